"""Which tool builds a cell's environment, behind one interface: uv (always here) or conda.

ENV_BACKEND=auto (default) picks conda when a conda executable (micromamba, mamba or conda, in
that order, or $CONDA_EXE) is found, uv otherwise; ENV_BACKEND=uv|conda forces one. A forced
conda without an executable is an error of the cell, never a silent fallback. Code outside this
module never asks which backend it has: it calls the interface.
"""

from __future__ import annotations

import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from rolloutcheck.core import paths, procs, tools
from rolloutcheck.core.errors import Failure
from rolloutcheck.envs import conda as conda_backend
from rolloutcheck.envs import install as environment
from rolloutcheck.envs import locks
from rolloutcheck.envs import spec as envspec
from rolloutcheck.envs.locks import LockError, LockState
from rolloutcheck.inputs.registry import Label
from rolloutcheck.inputs.usecases import UseCase

CONDA_EXECUTABLES = ("micromamba", "mamba", "conda")


class BackendError(Failure, RuntimeError):
    pass


class EnvBackend(Protocol):
    name: str
    builds_python: bool  # True: the backend installs the Python conda.yaml names (nox's is not used)

    def prefix(self, venv: Path) -> Path: ...
    def lock_file(self, usecase: UseCase, label: Label) -> Path: ...
    def lock_state(self, usecase: UseCase, label: Label) -> LockState: ...
    def lock(self, usecase: UseCase, label: Label, log: Path) -> Path: ...
    def install(self, label: Label, lock_file: Path, prefix: Path, log: Path) -> bool: ...
    def refresh_command(self, label: Label) -> str: ...
    def create(self, venv: Path, python: str, log: Path) -> None: ...


@dataclass(frozen=True)
class UvBackend:
    name: str = "uv"
    builds_python: bool = False

    def prefix(self, venv: Path) -> Path:
        return venv  # the cell's virtualenv, made with the Python conda.yaml names

    def _inputs(self, usecase: UseCase, label: Label) -> envspec.LockInputs:
        try:
            return envspec.lock_inputs(usecase, label)
        except (envspec.EnvSpecError, OSError, ValueError) as error:
            raise LockError(f"cannot derive requirements: {error}") from None

    def lock_file(self, usecase: UseCase, label: Label) -> Path:
        return locks.LockFiles(paths.cell_env_dir(usecase.name, label.name)).lock

    def lock_state(self, usecase: UseCase, label: Label) -> LockState:
        return locks.state(self._inputs(usecase, label))

    def lock(self, usecase: UseCase, label: Label, log: Path) -> Path:
        return locks.lock(self._inputs(usecase, label), log)

    def install(self, label: Label, lock_file: Path, prefix: Path, log: Path) -> bool:
        return environment.sync(prefix, lock_file, log, label.index_url)

    def refresh_command(self, label: Label) -> str:
        return locks.refresh_command(label.name)

    def create(self, venv: Path, python: str, log: Path) -> None:
        """The cell's virtualenv (made here, not by nox: under the env lock, so two cells of one session
        never create it at once); kept while it exists."""
        if (venv / "bin" / "python").exists():
            return
        # `3.11` is the python3.11 on PATH (interpreter.find checked it runs), not one uv prefers
        exe = python if "/" in python else (shutil.which(f"python{python}") or python)
        shutil.rmtree(venv, ignore_errors=True)  # a folder without a working python (an interrupted create)
        code, lines = procs.run_logged([tools.uv_bin(), "venv", "--python", exe, str(venv)], log)
        if code != 0:
            raise environment.EnvError(f"uv venv failed: {(lines or ['no output'])[-1]}")


@dataclass(frozen=True)
class CondaBackend:
    executable: str
    name: str = "conda"
    builds_python: bool = True

    def prefix(self, venv: Path) -> Path:
        return venv.with_name(f"{venv.name}-conda")  # beside the uv one's place, which stays empty

    def lock_file(self, usecase: UseCase, label: Label) -> Path:
        return conda_backend.files(usecase.name, label.name)[1]

    def lock_state(self, usecase: UseCase, label: Label) -> LockState:
        return conda_backend.state(usecase, label)

    def lock(self, usecase: UseCase, label: Label, log: Path) -> Path:
        return conda_backend.lock(usecase, label, self.executable, log)

    def install(self, label: Label, lock_file: Path, prefix: Path, log: Path) -> bool:
        return conda_backend.install(lock_file, prefix, self.executable, log)

    def refresh_command(self, label: Label) -> str:
        return f"ENV_BACKEND=conda {locks.refresh_command(label.name)}"

    def create(self, venv: Path, python: str, log: Path) -> None:
        """conda-lock install makes the prefix itself."""


def conda_executable(environ: Mapping[str, str]) -> str | None:
    path = environ.get("PATH")
    if environ.get("CONDA_EXE") and shutil.which(environ["CONDA_EXE"], path=path):
        return shutil.which(environ["CONDA_EXE"], path=path)
    return next((found for name in CONDA_EXECUTABLES if (found := shutil.which(name, path=path))), None)


def _auto(environ: Mapping[str, str]) -> EnvBackend:
    exe = conda_executable(environ)
    return CondaBackend(exe) if exe else UvBackend()


def _conda(environ: Mapping[str, str]) -> EnvBackend:
    exe = conda_executable(environ)
    if not exe:
        raise BackendError(
            "ENV_BACKEND=conda but no conda executable (micromamba, mamba or conda) is on PATH; "
            "install one or use ENV_BACKEND=uv"
        )
    return CondaBackend(exe)


CHOOSERS = {"auto": _auto, "uv": lambda environ: UvBackend(), "conda": _conda}
CHOICES = tuple(CHOOSERS)


def choose(requested: str, environ: Mapping[str, str]) -> EnvBackend:
    chooser = CHOOSERS.get(requested)
    if chooser is None:
        raise BackendError(f"ENV_BACKEND={requested!r} is not one of {', '.join(CHOICES)}")
    return chooser(environ)
