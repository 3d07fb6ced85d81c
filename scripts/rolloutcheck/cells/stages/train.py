"""train: the use case runs as an MLflow Project with the label's own `mlflow run`."""

from __future__ import annotations

from rolloutcheck.cells.context import CellContext, CellState
from rolloutcheck.drivers import project
from rolloutcheck.models.results import StageResult

NAME = "train"


def describe(ctx: CellContext) -> str:
    return f"mlflow run {ctx.usecase.folder.name}"  # the project folder (a store check locks it as _stores)


def run(ctx: CellContext, state: CellState, record: StageResult) -> None:
    state.need("traits", "environ")
    workdir = project.copy_project(ctx.usecase.folder, ctx.cell_dir / "project")
    command = project.run_command(ctx.prefix, workdir, ctx.usecase.params, state.traits)
    # a TrainError (mlflow run failed or timed out) fails the stage with its reason
    state.run_id = project.run(command, ctx.launch(NAME, state.environ), ctx.timeouts.train)
    state.result.run_id = state.run_id
    record.reason = f"run {state.run_id}"
