"""serve: `mlflow models serve` of the run's model on 127.0.0.1 and a free port, until /ping is 200."""

from __future__ import annotations

from rolloutcheck.cells.context import CellContext, CellState, StageFailed
from rolloutcheck.cells.stages import tracking
from rolloutcheck.core.procs import Launch
from rolloutcheck.drivers import serving
from rolloutcheck.spec.results import StageResult

NAME = "serve"


def describe(ctx: CellContext) -> str:
    return f"mlflow models serve of {ctx.usecase.name}'s model"


def run(ctx: CellContext, state: CellState, record: StageResult) -> None:
    state.need("traits", "environ", "run_id")
    command = serving.serve_command(ctx.prefix, tracking.model_uri(ctx, state), state.traits.local_env_flags)
    state.server = start(command, ctx.launch(NAME, state.environ), ctx.timeouts.serve)
    record.reason = f"healthy on {state.server.url}"
    record.details["url"] = state.server.url


def start(command, launch: Launch, timeout: float, what: str = "", health: str = "/ping") -> serving.Server:
    """A healthy server, or StageFailed with the one-line reason (prefixed by `what`)."""
    try:
        return serving.start_healthy(command, launch, timeout, health=health)
    except serving.ServeError as error:
        raise StageFailed(f"{what}{error}") from None


def stop(state: CellState) -> None:
    if state.server is not None:
        state.server.stop()
