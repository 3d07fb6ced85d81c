"""What the nox sessions and the CLI do, as plain functions (the noxfile stays thin)."""

from __future__ import annotations

from rolloutcheck.core.errors import ConfigError
from rolloutcheck.core.settings import Settings
from rolloutcheck.core.steplog import Printer, stderr
from rolloutcheck.envs import merged as merged_reqs
from rolloutcheck.inputs import usecases
from rolloutcheck.inputs.registry import Label


def merged_requirements(label: Label, settings: Settings, printer: Printer = stderr) -> list[str]:
    """Write one requirements.txt (and its hashed lock) for all use cases of `label`; the conflicts."""
    try:
        cases = usecases.discover()
    except ConfigError as error:
        return [str(error)]
    merged = merged_reqs.merge(label, cases)
    target_dir = settings.results / "requirements" / label.name
    if not merged.conflicts:
        reason = merged_reqs.resolve(merged, label, lock_to=target_dir / "requirements.lock")
        if reason:
            merged.conflicts.append(f"together unresolvable ({', '.join(cases)}): {reason}")
    target = merged_reqs.write(merged, label, target_dir)
    printer(f"wrote {target} ({len(merged.requirements)} requirements from {len(cases)} use cases)")
    if (target_dir / "requirements.lock").is_file() and not merged.conflicts:
        printer(f"wrote {target_dir / 'requirements.lock'} (resolved, with hashes)")
    for conflict in merged.conflicts:
        printer(f"conflict: {conflict}")
    return merged.conflicts
