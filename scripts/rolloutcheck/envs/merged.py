"""The seed's pipeline step: one requirements.txt for all use cases of one label.

Direct requirements of every use case (as derived for its lock) are merged by package name.
A package whose combined specifiers exclude every version the use cases pin or lock is a
conflict, reported with the use cases it comes from; the merged set is then resolved with uv,
and a resolver failure is a conflict too (with uv's reason).
"""

from __future__ import annotations

import tempfile
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from rolloutcheck.core.atomic import write_atomic
from rolloutcheck.envs import locks
from rolloutcheck.envs import spec as envspec
from rolloutcheck.inputs.registry import Label
from rolloutcheck.inputs.usecases import UseCase


@dataclass
class Merge:
    label: str
    requirements: list[str] = field(default_factory=list)  # merged, one line per package
    conflicts: list[str] = field(default_factory=list)
    sources: dict[str, list[str]] = field(default_factory=dict)  # package -> use cases


def merge(label: Label, cases: dict[str, UseCase]) -> Merge:
    result = Merge(label.name)
    wanted: dict[str, list[tuple[str, Requirement | str]]] = defaultdict(list)
    locked: dict[str, dict[str, str]] = {}
    for case in cases.values():
        inputs = envspec.lock_inputs(case, label)
        locked[case.name] = locks.locked_versions(locks.files_for(inputs).lock)
        for line in inputs.requirements:
            try:
                requirement = Requirement(line)
                wanted[canonicalize_name(requirement.name)].append((case.name, requirement))
            except InvalidRequirement:  # a wheel path or URL: kept verbatim, keyed by itself
                wanted[line].append((case.name, line))
    for name, entries in sorted(wanted.items()):
        users = sorted({case for case, _ in entries})
        result.sources[name] = users
        requirements = [r for _, r in entries if isinstance(r, Requirement)]
        if not requirements:
            result.requirements.append(str(entries[0][1]))
            continue
        urls = sorted({r.url for r in requirements if r.url})
        if urls:  # `name @ URL` (a label's mlflow build): the URL is the requirement, kept as written
            if len(urls) > 1:
                detail = "; ".join(f"{case} wants {r}" for case, r in entries if isinstance(r, Requirement) and r.url)
                result.conflicts.append(f"{name}: different URLs: {detail}")
            result.requirements.append(next(str(r) for r in requirements if r.url == urls[0]))
            continue
        combined = SpecifierSet()
        extras: set[str] = set()
        for requirement in requirements:
            combined &= requirement.specifier
            extras |= requirement.extras
        candidates = {s.version for r in requirements for s in r.specifier if s.operator in ("==", "===", ">=", "<=")}
        candidates |= {locked[case][name] for case in users if name in locked[case]}
        versions = [_version(v) for v in candidates]
        if str(combined) and not any(v is not None and combined.contains(v, prereleases=True) for v in versions):
            detail = "; ".join(f"{case} wants {r}" for case, r in entries if isinstance(r, Requirement))
            result.conflicts.append(f"{name}: {detail}")
        extra = f"[{','.join(sorted(extras))}]" if extras else ""
        result.requirements.append(f"{requirements[0].name}{extra}{combined}")
    return result


def _version(text: str) -> Version | None:
    try:
        return Version(text.replace("*", "0"))
    except InvalidVersion:
        return None


def resolve(
    merged: Merge, label: Label, python: str = "3.11", *, log: Path | None = None, lock_to: Path | None = None
) -> str | None:
    """Resolve the merged set with uv; None when it resolves, else uv's one-line reason.
    With `log`, the uv command and its output are written there; with `lock_to`, the resolved set
    is written there with hashes (what the seed installs as its one environment)."""
    with tempfile.TemporaryDirectory() as tmp:
        requirements, constraints = Path(tmp, "requirements.in"), Path(tmp, "constraints.txt")
        requirements.write_text("\n".join(merged.requirements) + "\n")
        constraints.write_text("\n".join(label.constraints) + "\n")
        hashes = lock_to is not None
        done = locks.compile_requirements(requirements, constraints, python, label.index_url, hashes=hashes, log=log)
    if done.returncode != 0:
        return locks.resolver_reason(done.stderr)
    if lock_to is not None:
        header = (
            f"# Every use case on label {label.name}, resolved with hashes by `nox -s requirements-{label.name}`.\n"
            f"# Install with: uv pip sync --require-hashes {lock_to.name}\n"
        )
        write_atomic(lock_to, header + done.stdout)
    return None


def write(merged: Merge, label: Label, folder: Path) -> Path:
    """requirements.txt (with which use cases need each line) and the label's constraints.txt."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "constraints.txt").write_text("".join(c + "\n" for c in label.constraints))
    lines = [
        f"# All use cases on label {merged.label}, merged by `nox -s requirements-{merged.label}`.",
        "-c constraints.txt",
    ]
    for requirement in merged.requirements:
        try:
            key = canonicalize_name(Requirement(requirement).name)
        except InvalidRequirement:
            key = requirement
        lines.append(f"{requirement}  # {', '.join(merged.sources.get(key, []))}")
    target = folder / "requirements.txt"
    target.write_text("\n".join(lines) + "\n")
    return target
