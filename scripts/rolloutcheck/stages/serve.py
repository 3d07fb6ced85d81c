"""serve: `mlflow models serve` of the run's model on 127.0.0.1 and a free port, until /ping is 200."""

from __future__ import annotations

from .. import serving
from ..results import StageResult
from .base import CellContext, CellState, StageFailed

NAME = "serve"


def model_uri(ctx: CellContext, state: CellState) -> str:
    return f"runs:/{state.run_id}/{ctx.usecase.model_path}"


def describe(ctx: CellContext) -> str:
    return f"mlflow models serve of {ctx.usecase.name}'s model"


def run(ctx: CellContext, state: CellState, record: StageResult) -> None:
    state.need("traits", "environ", "run_id")
    command = serving.serve_command(ctx.prefix, model_uri(ctx, state), state.traits)
    try:
        state.server = serving.start_healthy(command, ctx.launch(NAME, state.environ), ctx.timeouts.serve)
    except serving.ServeError as error:
        raise StageFailed(str(error)) from None
    record.reason = f"healthy on {state.server.url}"
    record.details["url"] = state.server.url


def stop(state: CellState) -> None:
    if state.server is not None:
        state.server.stop()
