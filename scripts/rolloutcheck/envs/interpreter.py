"""Which Python builds a cell's environment: the one the project names, wherever this machine has it.

Looked for, in order: `pythonX.Y` on PATH (that runs: pyenv's shims exist for versions that do
not), pyenv's versions folder (`$PYENV_ROOT`, default `~/.pyenv`), uv-managed Pythons (`uv python
dir`), and conda installs (`$CONDA_PREFIX`, the envs beside `$CONDA_EXE`). Nothing is downloaded.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from rolloutcheck.core import paths, tools
from rolloutcheck.core.errors import Failure
from rolloutcheck.envs import install as environment
from rolloutcheck.inputs import usecases
from rolloutcheck.inputs.registry import Label
from rolloutcheck.inputs.requirements import mlflow_version_of

DEFAULT = "3.11"  # a project that names no Python runs on the tool's own


@dataclass(frozen=True)
class Found:
    python: str  # what the env stage gives uv: `3.11` when on PATH, else the interpreter's path
    missing: str | None = None  # the one-line reason when the named Python is nowhere here


def _runs(exe: Path | str, version: str) -> bool:
    try:
        done = subprocess.run([str(exe), "--version"], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0 and (done.stdout or done.stderr).strip().startswith(f"Python {version}")


def pyenv_root() -> Path:
    return Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv")


@cache
def uv_python_dir() -> Path | None:
    try:
        done = subprocess.run([tools.uv_bin(), "python", "dir"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return Path(done.stdout.strip()) if done.returncode == 0 and done.stdout.strip() else None


def conda_roots() -> list[Path]:
    roots = [Path(os.environ["CONDA_PREFIX"])] if os.environ.get("CONDA_PREFIX") else []
    if os.environ.get("CONDA_EXE"):
        base = Path(os.environ["CONDA_EXE"]).resolve().parent.parent
        roots += [base, *sorted((base / "envs").glob("*"))]
    return roots


def places(version: str) -> dict[str, list[Path]]:
    """Where each kind of install would hold `pythonX.Y` (PATH is searched by name)."""
    name = f"python{version}"
    uv_dir = uv_python_dir()
    return {
        f"PATH ({name})": [],
        f"pyenv ({pyenv_root() / 'versions'})": sorted(pyenv_root().glob(f"versions/{version}*/bin/{name}")),
        f"uv-managed ({uv_dir or 'uv python dir: none'})": sorted(uv_dir.glob(f"cpython-{version}*/bin/{name}"))
        if uv_dir
        else [],
        "conda ($CONDA_PREFIX, envs of $CONDA_EXE)": [r / "bin" / name for r in conda_roots()],
    }


@cache
def find(version: str) -> Found:
    """The interpreter for `version`, or the one line saying where it was looked for."""
    if environment.python_available(version):
        return Found(version)
    searched = places(version)
    for candidates in searched.values():
        for exe in candidates:
            if exe.is_file() and _runs(exe, version):
                return Found(str(exe))
    current = f"{sys.version_info.major}.{sys.version_info.minor}"
    return Found(current, f"Python {version} is not on this machine: looked in {', '.join(searched)}")


@cache
def _project(folder: Path) -> usecases.UseCase | None:
    """A use case read once per process: nox asks for each of its cells (7 labels' kinds: 49 reads)."""
    try:
        return usecases.load(folder)
    except Failure:
        return None


def interpreter_for(usecase: str, label: Label | None = None) -> tuple[str, str | None]:
    """(Python to build the env with, why the Python the project names is missing, if it is).
    Never fails: a use case whose files are broken gets this Python and fails its config stage."""
    loaded = _project(paths.usecase_dir(usecase))
    if loaded is None:  # reported by the cell's config stage, not while nox loads
        return f"{sys.version_info.major}.{sys.version_info.minor}", None
    wanted = loaded.python_for(mlflow_version_of(label.mlflow) if label else None) or DEFAULT
    found = find(wanted)
    return found.python, found.missing
