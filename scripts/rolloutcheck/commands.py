"""What the nox sessions and the CLI do, as plain functions (the noxfile stays thin)."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from . import backends, environment, envspec, htmlreport, locks, paths, report, results, storeconfig, usecases
from . import merged_requirements as merged_reqs
from .errors import ConfigError, shown
from .registry import Label
from .results import FAIL, PASS, CellResult
from .settings import Settings
from .steplog import Printer, StepLog, stderr

SELECTION_FILE = "selection.json"  # the labels a run was asked for: report names every missing cell


def interpreter_for(usecase: str) -> tuple[str, str | None]:
    """(Python to build the env with, the version conda.yaml names if it is missing here).
    Never fails: a use case whose conda.yaml is broken gets this Python and fails its config stage."""
    current = f"{sys.version_info.major}.{sys.version_info.minor}"
    try:
        wanted = envspec.read_conda_env(paths.USECASES / usecase / "conda.yaml").python or "3.11"
    except Exception:  # noqa: BLE001 - reported by the cell's config stage, not while nox loads
        return current, None
    if environment.python_available(wanted):
        return wanted, None
    return current, wanted


def lock_label(label: Label, names: list[str], settings: Settings, printer: Printer = stderr) -> list[str]:
    """Re-lock the given use cases on `label` with the chosen backend; one line per failure."""
    try:
        backend = backends.choose(settings.env_backend, settings.environ)
    except backends.BackendError as error:
        return [str(error)]
    failures = []
    steps = StepLog(f"lock {label.name} ({backend.name})", printer)
    logs = settings.results / "lock-logs" / time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    for name in names:
        started = steps.begin(name)
        try:
            case = (
                storeconfig.load().environment
                if name == storeconfig.LOCK_NAME
                else usecases.load(paths.USECASES / name)
            )
            lock = backend.lock(case, label, logs / f"{label.name}-{name}.log")
            steps.end(name, started, PASS, shown(lock))
        except (locks.LockError, envspec.EnvSpecError, ConfigError) as error:
            reason = getattr(error, "reason", str(error))
            steps.end(name, started, FAIL, reason)
            failures.append(f"{label.name} x {name}: {reason}")
    return failures


def selection_cells(selection: list[str]) -> list[tuple[str, str, str]]:
    """(kind, label, use case) for each selected session name: `validate-L`, `upgrade-L`, or a bare
    label (meaning `validate-L`) stand for every use case folder; `validate-L(U)` for one cell."""
    cells = []
    for name in selection:
        name, _, one = name.partition("(")
        kind, label = results.kind_and_label(name.removeprefix("validate-"))
        names = store_kinds() if kind == "store-upgrade" else usecases.names()
        cells += [(kind, label, usecase) for usecase in ([one.rstrip(")")] if one else names)]
    return list(dict.fromkeys(cells))


def store_kinds() -> tuple[str, ...]:
    """The store checks envs/stores.yaml lists (all of them when it is broken: each then fails its config)."""
    try:
        return storeconfig.load().stores
    except ConfigError:
        return storeconfig.STORE_KINDS


def expected_cells(run: Path, selection: list[str] | None) -> list[tuple[str, str, str]]:
    """The cells a run was asked for: the selection given (then recorded in the run), else the recorded one."""
    recorded = run / SELECTION_FILE
    if selection:
        results.write_atomic(recorded, json.dumps({"sessions": selection, "usecases": usecases.names()}, indent=2))
    elif recorded.is_file():
        selection = json.loads(recorded.read_text())["sessions"]
    return selection_cells(selection or [])


def summarize(
    run: Path, label: str | None = None, selection: list[str] | None = None, kind: str = "validate"
) -> tuple[str, list[CellResult]]:
    """Write the run's JUnit XML and Markdown; the table (for `label` and `kind`, or all) and its cells.
    Cells the selection (session names, or those recorded in the run) asked for but that never
    reported are FAIL cells named in the table."""
    cells = results.load_cells(run)
    if label is None:
        cells += results.missing_cells(run, cells, expected_cells(run, selection))
    xml, md = report.write(run, cells)
    html = htmlreport.write(run, cells)
    shown_cells = [c for c in cells if label is None or (c.label == label and c.kind == kind)]
    return f"{report.markdown(shown_cells)}\nJUnit: {xml}\nTable: {md}\nHTML report: {html}\n", shown_cells


def latest_run(settings: Settings) -> Path | None:
    """The newest run that holds cells (`results/latest`, else the newest such folder)."""
    latest = settings.results / "latest"
    if latest.is_dir():
        return latest.resolve()
    runs = [p for p in (settings.results / "runs").glob("*/") if any(p.glob("*/*/cell.json"))]
    return max(runs, key=lambda p: p.stat().st_mtime) if runs else None


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


def new_run(settings: Settings, prefix: str, shard: str | None = None) -> Path:
    """A fresh run folder name under results/runs: `<prefix>-<UTC time>[-shard-k-of-N]`."""
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    suffix = f"-shard-{shard.replace('/', '-of-')}" if shard else ""
    return settings.results / "runs" / f"{prefix}-{stamp}{suffix}"
