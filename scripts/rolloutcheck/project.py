"""Running a use case as an MLflow Project with the label's own `mlflow run`."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

from .procs import Launch
from .traits import Traits

RUN_ID = re.compile(r"Run \(ID '([0-9a-f]{32})'\) succeeded")


class TrainError(RuntimeError):
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
GENERIC = re.compile(r"non zero return code|Non-zero exit code|ShellCommandException")


def last_error_line(text: str) -> str:
    """The line that says why: the last exception raised, preferring the cause over mlflow's generic
    "Command ... returned non zero return code" wrapper."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    errors = [line for line in lines if re.search(r"(Error|Exception|error:)", line)]
    causes = [line for line in errors if re.match(r"^[\w.]*(Error|Exception)\b", line) and not GENERIC.search(line)]
    return (causes or errors or lines or ["no output"])[-1][:300]
