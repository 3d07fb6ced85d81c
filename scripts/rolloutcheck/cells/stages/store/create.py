"""store: the store under test, private to the cell: a SQLite file, a PostgreSQL database (a private
cluster, or a fresh database on ROLLOUT_POSTGRES_URL's server), a MySQL database (a private MariaDB, or
a fresh database on ROLLOUT_MYSQL_URL's server), or a file store folder; empty, or a copy
of production's store (ROLLOUT_STORE_COPY) for the kind it is. Production's own store is never written:
a SQLite file or mlruns folder is copied into the cell, a PostgreSQL or MySQL URL must name a database that is
itself a copy (the check upgrades it and restores it from its dump)."""

from __future__ import annotations

import shutil
from pathlib import Path

from rolloutcheck.cells.context import CellContext, StageFailed, StoreState
from rolloutcheck.core.settings import MYSQL_SCHEMES
from rolloutcheck.spec.results import StageResult
from rolloutcheck.stores import mysql
from rolloutcheck.stores import postgres as pgcluster

NAME = "store"
# database kinds: their module (a private server, or a fresh database on a given one), the URL setting, the folder
SERVERS = {"postgresql": (pgcluster, "postgres_url", "postgres"), "mysql": (mysql, "mysql_url", "mysql")}


def describe(ctx: CellContext) -> str:
    return "an empty tracking store for the check"


def copy_kind(uri: str) -> str:
    """Which store check a ROLLOUT_STORE_COPY value is for."""
    if uri.startswith("sqlite:"):
        return "sqlite"
    if uri.startswith(("postgresql:", "postgres:")):
        return "postgresql"
    if uri.startswith(MYSQL_SCHEMES):
        return "mysql"
    return "filestore"


def _copy(state: StoreState, folder: Path, record: StageResult) -> bool:
    """Use the copy of production's store, when one is given for this kind; whether it was."""
    if not state.copy_of or copy_kind(state.copy_of) != state.store_kind:
        return False
    if state.store_kind in SERVERS:
        try:
            state.database = SERVERS[state.store_kind][0].given(state.copy_of, Path(record.log or folder / "store.log"))
        except (pgcluster.PostgresError, mysql.MysqlError) as error:
            raise StageFailed(error.reason) from None
        state.uri = state.database.url
        return True
    source = Path(state.copy_of.removeprefix("sqlite:///").removeprefix("file://"))
    if not source.exists():
        raise StageFailed(f"ROLLOUT_STORE_COPY: {source} does not exist")
    if state.store_kind == "sqlite":
        state.uri = f"sqlite:///{shutil.copy2(source, folder / 'mlflow.db')}"
    else:
        state.uri = f"file://{shutil.copytree(source, folder / 'mlruns')}"
    return True


def run(ctx: CellContext, state: StoreState, record: StageResult) -> None:
    folder = ctx.cell_dir / "store"
    folder.mkdir(exist_ok=True)
    copied = _copy(state, folder, record)
    if copied:
        record.details["copy_of"] = state.result.upgrade["copy_of"] = pgcluster.shown(state.copy_of)
    elif state.store_kind == "sqlite":
        state.uri = f"sqlite:///{folder / 'mlflow.db'}"
    elif state.store_kind == "filestore":
        state.uri = f"file://{folder / 'mlruns'}"
    elif state.store_kind in SERVERS:
        module, setting, folder_name = SERVERS[state.store_kind]
        given = getattr(state, setting)
        try:
            if given:
                state.database = module.existing(given, ctx.log(NAME))
                record.details["server"] = f"existing (ROLLOUT_{setting.upper()})"
            else:
                state.database = module.private(folder / folder_name, ctx.launch(NAME, ctx.environ))
                record.details["server"] = f"private server {state.database.data_folder}"
        except (pgcluster.PostgresError, mysql.MysqlError) as error:
            raise StageFailed(error.reason, error.log) from None
        state.uri = state.database.url
    else:
        raise StageFailed(f"no store of kind {state.store_kind!r}")
    state.source.need("environ")
    state.source.environ["MLFLOW_TRACKING_URI"] = state.uri  # populate and from-train write into it
    if state.database is not None:  # its password by environment (PGPASSWORD), never in a command or URL
        for side in (state.source, state.target):
            side.need("environ")
            side.environ.update(state.database.env)
    record.details["uri"] = pgcluster.shown(state.uri)
    record.reason = record.details["uri"] + (f" (a copy of {record.details['copy_of']})" if copied else "")


def stop(state: StoreState) -> None:
    if state.database is not None:
        state.database.stop()
