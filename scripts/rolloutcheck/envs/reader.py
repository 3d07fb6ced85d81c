"""The environment production's models are read with from a live tracking server: production's label's store
environment (its mlflow and database drivers, locked under envs/_stores/<label>/), made once in
.nox/reader-<label> and reused while its lock is unchanged (one process at a time makes it)."""

from __future__ import annotations

from pathlib import Path

from rolloutcheck.core import paths
from rolloutcheck.core.errors import Failure
from rolloutcheck.envs import backends, interpreter, locks
from rolloutcheck.envs import install as environment
from rolloutcheck.inputs import stores as storeconfig
from rolloutcheck.inputs.registry import Label


class ReaderError(Failure):
    """The reader environment cannot be made (one line; the log says more)."""


def venv_of(label: Label) -> Path:
    return paths.NOX_DIR / f"reader-{paths.slug(label.name)}"


def reader_env(label: Label) -> Path:
    """Production's mlflow, ready to read its tracking server: the environment's folder."""
    venv, log = venv_of(label), paths.NOX_DIR / f"reader-{paths.slug(label.name)}.log"
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
    except Failure as error:
        why = f"the {label.name} environment that reads production's server: {error.reason} ({log})"
        raise ReaderError(why) from None
    return venv
