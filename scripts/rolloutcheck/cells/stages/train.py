"""train: the use case runs as an MLflow Project with the label's own `mlflow run`."""

from __future__ import annotations

from rolloutcheck.cells.context import CellContext, CellState
from rolloutcheck.cells.stages import reuse
from rolloutcheck.drivers import project
from rolloutcheck.spec.results import StageResult

NAME = "train"


def describe(ctx: CellContext) -> str:
    return f"mlflow run {ctx.usecase.folder.name}"  # the project folder (a store check locks it as _stores)


def run(ctx: CellContext, state: CellState, record: StageResult) -> None:
    state.need("traits", "environ")
    workdir = project.copy_project(ctx.usecase.folder, ctx.own_dir / "project")
    command = project.run_command(ctx.prefix, workdir, ctx.usecase.params, state.traits)
    launch = ctx.launch(NAME, state.environ)
    if reuse.take(ctx, state, record):  # the same inputs trained before: that model, copied into the cell
        launch.record(command)  # repro.sh still trains, as the cell that made the model did
        state.result.run_id = state.run_id
        return
    # a TrainError (mlflow run failed or timed out) fails the stage with its reason
    state.run_id = project.run(command, launch, ctx.timeouts.train)
    state.result.run_id = state.run_id
    record.reason = f"run {state.run_id}"
