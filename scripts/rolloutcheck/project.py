"""Running a use case as an MLflow Project with the label's own `mlflow run`."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

from . import procs
from .traits import Traits

RUN_ID = re.compile(r"Run \(ID '([0-9a-f]{32})'\) succeeded")


class TrainError(RuntimeError):
    pass


def copy_project(source: Path, target: Path) -> Path:
    """A private copy per cell: `mlflow run` writes next to the project, cells must not collide."""
    shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__", "mlruns", "*.pyc"))
    return target


def cell_environ(base: dict[str, str], venv: Path, tracking_uri: str, cell_dir: Path) -> dict[str, str]:
    runtime = cell_dir / "runtime"  # gunicorn's control socket and other per-user files
    runtime.mkdir(exist_ok=True)
    return {
        **base,
        "PATH": f"{venv / 'bin'}:{base.get('PATH', '')}",  # `mlflow run` uses the python on PATH
        "VIRTUAL_ENV": str(venv),
        "MLFLOW_TRACKING_URI": tracking_uri,
        "XDG_RUNTIME_DIR": str(runtime),
        "PYTHONNOUSERSITE": "1",
        "GIT_PYTHON_REFRESH": "quiet",
    }


def run(
    venv: Path, project: Path, params: dict, traits: Traits, env: dict[str, str], cwd: Path, log: Path,
    marker: str, timeout: float,
) -> str:  # fmt: skip
    """Run the project's main entry point; the run id, or TrainError with a one-line reason."""
    command = [str(venv / "bin" / "mlflow"), "run", str(project), *traits.local_env_flags]
    for name, value in params.items():
        command += ["-P", f"{name}={value}"]
    proc = procs.start(command, log, env, cwd, marker)
    try:
        code = proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        raise TrainError(f"`mlflow run` did not finish in {timeout:.0f}s") from None
    finally:
        procs.stop(proc, marker)
    text = log.read_text(errors="replace")
    found = RUN_ID.search(text)
    if code != 0 or not found:
        raise TrainError(f"`mlflow run` exited {code}: {last_error_line(text)}")
    return found.group(1)


def last_error_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    errors = [line for line in lines if re.search(r"(Error|Exception|error:)", line)]
    return (errors or lines or ["no output"])[-1][:300]
