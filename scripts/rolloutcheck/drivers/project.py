"""Running a use case as an MLflow Project with the label's own `mlflow run`."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

from rolloutcheck.core.errors import Failure
from rolloutcheck.core.procs import Launch
from rolloutcheck.core.steplog import last_error_line
from rolloutcheck.drivers.traits import Traits

RUN_ID = re.compile(r"Run \(ID '([0-9a-f]{32})'\) succeeded")


class TrainError(Failure, RuntimeError):
    pass


def copy_project(source: Path, target: Path) -> Path:
    """A private copy per cell: `mlflow run` writes next to the project, cells must not collide."""
    shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__", "mlruns", "*.pyc"))
    return target


def run_command(venv: Path, project: Path, params: dict, traits: Traits) -> list[str]:
    command = [str(venv / "bin" / "mlflow"), "run", str(project), *traits.local_env_flags]
    for name, value in params.items():
        command += ["-P", f"{name}={value}"]
    return command


def run(command: list[str], launch: Launch, timeout: float) -> str:
    """Run the project's main entry point; the run id, or TrainError with a one-line reason."""
    proc = launch.start(command)
    try:
        code = proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        raise TrainError(f"`mlflow run` did not finish in {timeout:.0f}s") from None
    finally:
        launch.stop(proc)
    text = launch.log.read_text(errors="replace")
    found = RUN_ID.search(text)
    if code != 0 or not found:
        raise TrainError(f"`mlflow run` exited {code}: {last_error_line(text)}")
    return found.group(1)


# mlflow's wrappers around a child's failure: the child's own exception, logged before, says why
