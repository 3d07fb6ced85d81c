"""store: the store under test, empty and private to the cell: a SQLite file, a PostgreSQL database (a
private cluster, or a fresh database on ROLLOUT_POSTGRES_URL's server), or a file store folder."""

from __future__ import annotations

from .. import pgcluster
from ..results import StageResult
from .base import CellContext, StageFailed, StoreState

NAME = "store"


def describe(ctx: CellContext) -> str:
    return "an empty tracking store for the check"


def run(ctx: CellContext, state: StoreState, record: StageResult) -> None:
    folder = ctx.cell_dir / "store"
    folder.mkdir(exist_ok=True)
    if state.store_kind == "sqlite":
        state.uri = f"sqlite:///{folder / 'mlflow.db'}"
    elif state.store_kind == "filestore":
        state.uri = f"file://{folder / 'mlruns'}"
    elif state.store_kind == "postgresql":
        try:
            if state.postgres_url:
                state.database = pgcluster.existing(state.postgres_url, ctx.log(NAME))
                record.details["server"] = "existing (ROLLOUT_POSTGRES_URL)"
            else:
                state.database = pgcluster.private(folder / "postgres", ctx.launch(NAME, ctx.environ))
                record.details["server"] = f"private cluster {state.database.cluster}"
        except pgcluster.PostgresError as error:
            raise StageFailed(error.reason, error.log) from None
        state.uri = state.database.url
    else:
        raise StageFailed(f"no store of kind {state.store_kind!r}")
    state.source.need("environ")
    state.source.environ["MLFLOW_TRACKING_URI"] = state.uri  # populate and from-train write into it
    record.reason = state.uri
    record.details["uri"] = state.uri


def stop(state: StoreState) -> None:
    if state.database is not None:
        state.database.stop()
