"""Which tool builds a cell's environment: uv (always available here) or conda.

ENV_BACKEND=auto (default) picks conda when a conda executable (micromamba, mamba or conda, in
that order, or $CONDA_EXE) is found, uv otherwise; ENV_BACKEND=uv|conda forces one. A forced
conda without an executable is an env-stage error, never a silent fallback.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass

CHOICES = ("auto", "uv", "conda")
CONDA_EXECUTABLES = ("micromamba", "mamba", "conda")


class BackendError(RuntimeError):
    pass


@dataclass(frozen=True)
class Backend:
    name: str  # "uv" or "conda"
    executable: str | None = None  # the conda-family executable, for conda


def conda_executable(environ: dict[str, str] | os._Environ = os.environ) -> str | None:
    path = environ.get("PATH")
    if environ.get("CONDA_EXE") and shutil.which(environ["CONDA_EXE"], path=path):
        return shutil.which(environ["CONDA_EXE"], path=path)
    for name in CONDA_EXECUTABLES:
        found = shutil.which(name, path=path)
        if found:
            return found
    return None


def choose(environ: dict[str, str] | os._Environ = os.environ) -> Backend:
    requested = environ.get("ENV_BACKEND", "auto").strip().lower() or "auto"
    if requested not in CHOICES:
        raise BackendError(f"ENV_BACKEND={requested!r} is not one of {', '.join(CHOICES)}")
    if requested == "uv":
        return Backend("uv")
    exe = conda_executable(environ)
    if exe:
        return Backend("conda", exe)
    if requested == "conda":
        raise BackendError(
            "ENV_BACKEND=conda but no conda executable (micromamba, mamba or conda) is on PATH; "
            "install one or use ENV_BACKEND=uv"
        )
    return Backend("uv")
