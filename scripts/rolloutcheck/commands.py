"""What the nox sessions and the CLI do, as plain functions (the noxfile stays thin)."""

from __future__ import annotations

import sys
from pathlib import Path

from . import backends, conda_backend, environment, envspec, locks, paths, report, results
from . import merged_requirements as merged_reqs
from .registry import Label
from .results import FAIL, CellResult
from .steplog import Printer, StepLog, _stderr
from .usecases import UseCase


def interpreter_for(usecase: UseCase) -> tuple[str, str | None]:
    """(Python to build the env with, the version conda.yaml names if it is missing here)."""
    wanted = envspec.read_conda_env(usecase.conda_file).python or "3.11"
    if environment.python_available(wanted):
        return wanted, None
    return f"{sys.version_info.major}.{sys.version_info.minor}", wanted


def lock_label(label: Label, cases: dict[str, UseCase], printer: Printer = _stderr) -> list[str]:
    """Re-lock every use case on `label` with the chosen backend; returns one line per failure."""
    try:
        backend = backends.choose()
    except backends.BackendError as error:
        return [str(error)]
    failures = []
    steps = StepLog(f"lock {label.name} ({backend.name})", printer)
    for case in cases.values():
        started = steps.begin(case.name)
        log = results.run_dir() / "lock-logs" / f"{label.name}-{case.name}.log"
        try:
            if backend.name == "conda":
                lock = conda_backend.lock(case, label, backend.executable, log)
            else:
                lock = locks.lock(envspec.lock_inputs(case, label), log)
            steps.end(case.name, started, "pass", str(lock.relative_to(paths.ROOT)))
        except (locks.LockError, envspec.EnvSpecError) as error:
            reason = getattr(error, "reason", str(error))
            steps.end(case.name, started, FAIL, reason)
            failures.append(f"{label.name} x {case.name}: {reason}")
    return failures


def summarize(run: Path, label: str | None = None) -> tuple[str, list[CellResult]]:
    """Write the run's JUnit XML and Markdown; the table (for `label`, or all) and its cells."""
    cells = results.load_cells(run)
    xml, md = report.write(run, cells)
    shown = [c for c in cells if label is None or c.label == label]
    return f"{report.markdown(shown)}\nJUnit: {xml}\nTable: {md}\n", shown


def latest_run() -> Path | None:
    runs = sorted((paths.RESULTS / "runs").glob("*/"), key=lambda p: p.stat().st_mtime)
    return runs[-1] if runs else None


def merged_requirements(label: Label, cases: dict[str, UseCase], printer: Printer = _stderr) -> list[str]:
    """Write one requirements.txt for all use cases of `label`; returns the conflicts."""
    merged = merged_reqs.merge(label, cases)
    if not merged.conflicts:
        reason = merged_reqs.resolve(merged, label)
        if reason:
            merged.conflicts.append(f"together unresolvable ({', '.join(cases)}): {reason}")
    target = merged_reqs.write(merged, label, paths.RESULTS / "requirements" / label.name)
    printer(f"wrote {target} ({len(merged.requirements)} requirements from {len(cases)} use cases)")
    for conflict in merged.conflicts:
        printer(f"conflict: {conflict}")
    return merged.conflicts
