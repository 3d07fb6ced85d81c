"""The environment production's models are read with from a live tracking server or an object store:
production's label's store environment (its mlflow and database drivers, locked under envs/_stores/<label>/),
made once in .nox/reader-<label> and reused while its lock is unchanged (one process at a time makes it)."""

from __future__ import annotations

import subprocess
from pathlib import Path

from rolloutcheck.core import paths, tools
from rolloutcheck.core.errors import Failure
from rolloutcheck.core.procs import run_logged
from rolloutcheck.envs import backends, interpreter, locks
from rolloutcheck.envs import install as environment
from rolloutcheck.inputs import stores as storeconfig
from rolloutcheck.inputs.registry import Label


class ReaderError(Failure):
    """The reader environment cannot be made (one line; the log says more)."""


def venv_of(label: Label, object_store: bool = False) -> Path:
    return paths.NOX_DIR / f"reader-{paths.slug(label.name)}{'-objects' if object_store else ''}"


# what mlflow needs to read artifacts from an object store (its s3 repository): production reads its artifacts with
# it, the store checks never need it. Added to an environment of its own, made from the store lock: boto3 may need
# other versions of what the lock pins (python-dateutil<3), which uv then resolves as production's pip would
OBJECT_STORE = ("boto3",)


def reader_env(label: Label, object_store: bool = False) -> Path:
    """Production's mlflow, ready to read its tracking server (and, `object_store`, the artifacts a copy's
    models keep in an object store): the environment's folder."""
    venv = venv_of(label, object_store)
    log = venv.with_name(venv.name + ".log")
    lock = locks.LockFiles(paths.cell_env_dir(storeconfig.LOCK_NAME, label.name)).lock
    if not lock.is_file():
        raise ReaderError(f"no store environment lock for {label.name} ({lock}): `nox -s lock-{label.name}`")
    python, missing = interpreter.interpreter_for(storeconfig.load().project.name, label)
    if missing:
        raise ReaderError(missing)
    try:
        with environment.exclusive(venv):
            backends.UvBackend().create(venv, python, log)
            environment.sync(venv, lock, log, label.index_url)
            if object_store and not _has(venv, "boto3"):
                command = [tools.uv_bin(), "pip", "install", "--quiet", "--python", str(venv / "bin" / "python"),
                           *OBJECT_STORE]  # fmt: skip
                code, lines = run_logged(command, log)
                if code != 0:
                    raise ReaderError(f"installing {', '.join(OBJECT_STORE)}: {(lines or ['?'])[-1]}")
    except Failure as error:
        why = f"the {label.name} environment that reads production's server: {error.reason} ({log})"
        raise ReaderError(why) from None
    return venv


def _has(venv: Path, module: str) -> bool:
    return subprocess.run([str(venv / "bin" / "python"), "-c", f"import {module}"], capture_output=True).returncode == 0
