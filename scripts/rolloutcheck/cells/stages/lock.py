"""lock: the committed lock of the cell is up to date with its inputs (or is made, for a new label)."""

from __future__ import annotations

from rolloutcheck.cells.context import CellContext, CellState, StageFailed
from rolloutcheck.core import paths
from rolloutcheck.core.errors import shown
from rolloutcheck.envs import interpreter
from rolloutcheck.envs.locks import LockError, LockState
from rolloutcheck.inputs.requirements import mlflow_version_of
from rolloutcheck.spec.results import StageResult

NAME = "lock"


def describe(ctx: CellContext) -> str:
    return f"{ctx.backend.name if ctx.backend else '?'} lock of envs/{ctx.usecase.name}/{ctx.label.name}"


def python_hint(ctx: CellContext, reason: str) -> str:
    """What a team does when this mlflow does not run on the Python its project names."""
    if "requested Python version" not in reason:
        return ""
    python = ctx.usecase.python_for(mlflow_version_of(ctx.label.mlflow)) or interpreter.DEFAULT
    return (f" (the project names Python {python}: a team that moves to another Python "
            f"for this mlflow says so in usecase.yaml, python_by_mlflow)")  # fmt: skip


def run(ctx: CellContext, state: CellState, record: StageResult) -> None:
    if ctx.backend is None:
        raise StageFailed(ctx.backend_problem or "no environment backend")
    # a LockError (unresolvable, conda missing) fails the stage with uv's reason and its log
    lock_file = ctx.backend.lock_file(ctx.usecase, ctx.label)
    record.details["lock"] = shown(lock_file)
    lock_state = ctx.backend.lock_state(ctx.usecase, ctx.label)
    if lock_state is LockState.STALE:
        refresh = ctx.backend.refresh_command(ctx.label)
        raise StageFailed(f"stale lock {shown(lock_file)}: its inputs changed; refresh with `{refresh}`")
    if lock_state is LockState.MISSING:
        try:
            ctx.backend.lock(ctx.usecase, ctx.label, ctx.log(NAME))
        except LockError as error:
            raise LockError(error.reason + python_hint(ctx, error.reason), error.log) from None
        why = "a remedy cell's own" if paths.in_scratch(lock_file) else "new label or use case: commit it"
        record.reason = f"created {shown(lock_file)} ({why})"
    else:
        record.reason = "lock up to date"
    state.lock_file = lock_file
