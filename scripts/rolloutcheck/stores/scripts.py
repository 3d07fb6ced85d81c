"""Running the in-environment store scripts (inenv/populate.py, snapshot.py) with a label's Python.

They run in the cell folder, so relative artifact locations that old versions store (`./mlruns`)
resolve the same for every label that reads the store.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

from rolloutcheck.core import paths
from rolloutcheck.core.errors import Failure
from rolloutcheck.core.procs import Launch, run_logged
from rolloutcheck.core.steplog import last_error_line
from rolloutcheck.stores import diff as storediff


class StoreScriptError(Failure):
    """A store script failed, or a store read back differs from the one written."""


def run_to_end(command: list[str], what: str, launch: Launch, timeout: float) -> float:
    """Run `command` to its end; seconds taken, or StoreScriptError naming `what` with its last error line."""
    started = time.monotonic()
    proc = launch.start(command)
    try:
        code = proc.wait(timeout)
    except subprocess.TimeoutExpired:
        launch.stop(proc)
        raise StoreScriptError(f"{what} did not finish within {timeout:.0f}s") from None
    if code != 0:
        text = launch.log.read_text(errors="replace") if launch.log.exists() else ""
        raise StoreScriptError(f"{what} failed (exit {code}): {last_error_line(text)}")
    return time.monotonic() - started


def run_script(prefix: Path, script: str, args: list[str], launch: Launch, timeout: float) -> float:
    """Run inenv/<script> with the env's Python; seconds taken, or StoreScriptError with its last error line."""
    return run_to_end([str(prefix / "bin" / "python"), str(paths.INENV / script), *args], script, launch, timeout)


def take_snapshot(prefix: Path, uri: str, out: Path, launch: Launch, timeout: float) -> dict:
    run_script(prefix, "snapshot.py", [uri, str(out)], launch, timeout)
    return storediff.load(out)


def has_command(prefix: Path, group: list[str], command: str, log: Path) -> bool:
    """Whether `mlflow <group> --help` lists `command` (versions add and drop commands)."""
    _, lines = run_logged([str(prefix / "bin" / "mlflow"), *group, "--help"], log)
    return any(line.startswith(command) for line in lines)


def compare_with(before: Path, after: dict, diff_file: Path, title: str, record_details: dict) -> storediff.StoreDiff:
    """Compare a snapshot with the *from* one; the diff goes to `diff_file`; StoreScriptError on any difference."""
    diff = storediff.compare(storediff.load(before), after)
    diff.write(diff_file, title)
    record_details.update({"counts_before": diff.before, "counts_after": diff.after, "diff": str(diff_file),
                           "differences": len(diff.differences)})  # fmt: skip
    if not diff.ok:  # each difference is matched on its own (cells/runner.py)
        raise StoreScriptError(diff.summary(), diff_file, tuple(diff.differences))
    return diff
