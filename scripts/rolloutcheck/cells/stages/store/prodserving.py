"""from-serve-options, to-serve-options: production's `mlflow models serve` command line on both labels.

Production serves its models with one command line and environment (envs/production.yaml `serving:`; none
declared: mlflow's own defaults, which are production's too). The same command may not do the same thing on the
new label: the model server moved from gunicorn to uvicorn (2.21), whose default is 1 worker where gunicorn's
was 4, and `GUNICORN_CMD_ARGS` lost its effect. Each label serves the model the store cell downloaded (to-tracking)
with production's command, and the worker processes that answer are counted (drivers/serving.Server.workers).
Fewer or more on the new label is a break met in to-serve-options; the new label started again with
`--workers <production's count>` and counted is its proof.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from rolloutcheck.cells.context import CellContext, CellState, StageFailed, StoreState
from rolloutcheck.cells.stages import serve
from rolloutcheck.cells.stages.store.prodserver import met
from rolloutcheck.core import net
from rolloutcheck.inputs import production
from rolloutcheck.spec.results import StageResult

WORKERS = "--workers"


def _declared(state: StoreState) -> production.ModelServing:
    serving = state.serving
    return serving if isinstance(serving, production.ModelServing) else production.ModelServing()


def _model(state: StoreState) -> str:
    report = state.target.report
    model_dir = getattr(report, "model_dir", None)
    if not model_dir:
        raise StageFailed("no model to serve: to-tracking did not download the store's model")
    return str(model_dir)


def _command(prefix: Path, model: str, flags: list[str], options: tuple[str, ...]) -> Callable[[int], list[str]]:
    def command(port: int) -> list[str]:
        return [str(prefix / "bin" / "mlflow"), "models", "serve", "-m", model, "-h", net.HOST, "-p", str(port),
                *options, *flags]  # fmt: skip

    return command


def _workers(ctx: CellContext, state: StoreState, side: CellState, name: str, extra: tuple[str, ...] = ()) -> int:
    """The label serves the model with production's command (and `extra`): its worker processes, counted."""
    side.need("traits", "environ")
    serving = _declared(state)
    command = _command(ctx.prefix, _model(state), side.traits.local_env_flags, (*serving.options, *extra))
    server = serve.start(command, ctx.launch(name, {**(side.environ or {}), **dict(serving.env)}),
                         ctx.timeouts.serve, f"{name}: ")  # fmt: skip
    try:
        return server.workers()
    finally:
        server.stop()


def _sets_workers(serving: production.ModelServing) -> bool:
    """Whether production's command sets its workers (an option, or a variable one of the servers reads)."""
    variables = dict(serving.env)
    gunicorn = variables.get("GUNICORN_CMD_ARGS", "").replace("=", " ").split()
    options = [o.split("=", 1)[0] for o in serving.options]
    return (
        WORKERS in options
        or "-w" in options
        or "MLFLOW_MODELS_WORKERS" in variables
        or bool({WORKERS, "-w"} & set(gunicorn))
    )


class FromServeOptions:
    """Production's label serves the model with production's command line: how many workers that gives today."""

    NAME = "from-serve-options"

    @staticmethod
    def describe(ctx: CellContext) -> str:
        return f"mlflow {ctx.label.name} serves the model with production's command line"

    @staticmethod
    def run(ctx: CellContext, state: StoreState, record: StageResult) -> None:
        shown = _declared(state).shown()
        workers = _workers(ctx, state, state.source, FromServeOptions.NAME)
        state.result.upgrade["serving"] = {"command": shown, "from_workers": workers}
        record.details["workers"] = workers
        record.reason = f"`{shown}`: {workers} worker process(es) on {ctx.label.name}"


class ToServeOptions:
    """The new label serves the model with the same command line: the same number of workers, or a break met."""

    NAME = "to-serve-options"

    @staticmethod
    def describe(ctx: CellContext) -> str:
        return f"mlflow {ctx.label.name} serves the model with production's command line"

    @staticmethod
    def run(ctx: CellContext, state: StoreState, record: StageResult) -> None:
        serving = state.result.upgrade.get("serving") or {}
        wanted = serving.get("from_workers")
        if not wanted:
            raise StageFailed("production's label did not serve the model with its command (from-serve-options)")
        shown, label, source = _declared(state).shown(), ctx.label.name, state.source.result.label
        workers = _workers(ctx, state, state.target, ToServeOptions.NAME)
        serving["to_workers"] = record.details["workers"] = workers
        record.reason = f"`{shown}`: {workers} worker process(es) on {label}, as on {source}"
        if workers == wanted:
            # the same count from mlflow's defaults on both sides says nothing of a worker setting the new label
            # ignores: only a production that sets workers exercises the written-down break
            record.details["exercised"] = _sets_workers(_declared(state))
            return
        extra = (WORKERS, str(wanted))
        again = _workers(ctx, state, state.target, ToServeOptions.NAME + "-workers", extra)
        if again != wanted:
            raise StageFailed(f"the same serving command started {workers} worker process(es) on {label} where "
                              f"{source} started {wanted}; also with `{' '.join(extra)}`: {again}")  # fmt: skip
        fixed = _declared(state).shown(*extra)
        met(record, f"the same serving command started {workers} worker process(es) on {label} where {source} "
            f"started {wanted} (`{shown}`)", f"with `{' '.join(extra)}` the {label} server started {again} worker "
            f"process(es), as {source} does ({ToServeOptions.NAME})", fixed, "model servers")  # fmt: skip
        serving["fixed"] = fixed
        record.reason = f"`{shown}`: {workers} worker process(es) on {label} ({wanted} on {source}); `{fixed}`: {again}"
