"""Installing a cell's environment from its lock, and what is (not) on this machine.

The env stage creates the virtualenv (uv, the Python that conda.yaml names); this module fills it
with `uv pip sync` from the lock and marks it as holding that lock (envmark.py), so an unchanged
lock reuses the environment instead of reinstalling.
"""

from __future__ import annotations

import fcntl
import importlib.metadata
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path

from rolloutcheck.core import procs, tools
from rolloutcheck.core.errors import Failure
from rolloutcheck.envs import marker as envmark


class EnvError(Failure, RuntimeError):
    pass


@contextmanager
def exclusive(venv: Path) -> Iterator[None]:
    """One cell at a time creates, fills or checks an environment: the store cells of a label share one
    (`make -j2`: a second `uv venv` into one being made fails, two syncs into one would mix)."""
    venv.parent.mkdir(parents=True, exist_ok=True)
    with venv.with_name(f".{venv.name}.lock").open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)  # released when the file is closed, or the process ends
        yield


def bin_dir(venv: Path) -> Path:
    return venv / "bin"


def is_current(venv: Path, lock: Path) -> bool:
    """The venv holds the lock (its marker) and still has its `mlflow` entry point."""
    return envmark.is_current(venv, lock) and (bin_dir(venv) / "mlflow").exists()


def sync(venv: Path, lock: Path, log: Path, index_url: str | None = None) -> bool:
    """Make `venv` hold exactly the lock; False when it already did (nothing installed)."""
    if is_current(venv, lock):
        return False
    envmark.clear(venv)
    command = [tools.uv_bin(), "pip", "sync", "--python", str(bin_dir(venv) / "python"), "--require-hashes", str(lock)]
    if index_url:
        command += ["--extra-index-url", index_url]
    code, lines = procs.run_logged(command, log)
    if code != 0:
        errors = [line for line in lines if "error" in line.lower()]
        raise EnvError(f"uv pip sync failed: {(errors or lines or ['no output'])[-1]}")
    envmark.record(venv, lock)
    return True


def installed_version(venv: Path, distribution: str = "mlflow") -> str | None:
    """A distribution's version in `venv`, read from its metadata (no import, no subprocess)."""
    for site in venv.glob("lib/python*/site-packages"):
        for dist in importlib.metadata.distributions(path=[str(site)]):
            if dist.metadata["Name"] and dist.metadata["Name"].lower() == distribution:
                return dist.version
    return None


@cache
def python_available(version: str) -> bool:
    """Whether `python<version>` runs here (pyenv shims exist for versions that do not)."""
    exe = shutil.which(f"python{version}")
    if not exe:
        return False
    try:
        done = subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0 and done.stdout.strip().startswith(f"Python {version}")


def java_version() -> str | None:
    """First line of `java -version`, or None when no working Java is on PATH."""
    exe = shutil.which("java")
    if not exe:
        return None
    try:
        done = subprocess.run([exe, "-version"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    lines = (done.stderr or done.stdout).splitlines()
    return lines[0] if done.returncode == 0 and lines else None
