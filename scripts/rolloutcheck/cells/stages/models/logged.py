"""from-lock and to-lock of a models cell: the model's own logged requirements, locked with one side's mlflow.

The *from* side is production as it serves the model today: the libraries the model recorded (its
requirements.txt, else its conda.yaml) with the production label's mlflow. The *to* side is the same
model's environment with mlflow moved to the new label: what upgrading mlflow where the model is served
means. Each side adds its label's own requirements and constraints (envs/versions.yaml). The lock is
made by uv for the Python the model was logged with, into the cell folder (`<side>-lock/`).
"""

from __future__ import annotations

from pathlib import Path

from rolloutcheck.cells.context import CellContext, CellState, StageFailed
from rolloutcheck.cells.stages.upgrade.pin import model_libraries, uv_reason
from rolloutcheck.envs import locks
from rolloutcheck.spec.results import StageResult

NAME = "lock"


def describe(ctx: CellContext) -> str:
    return f"the model's logged requirements with mlflow {ctx.label.name}, locked by uv"


def requirements(ctx: CellContext, model_dir: Path) -> list[str]:
    return [ctx.label.mlflow, *ctx.label.requirements, *model_libraries(model_dir)]


def run(ctx: CellContext, state: CellState, record: StageResult) -> None:
    state.need("report", "python_version")
    model_dir = Path(state.report.model_dir)
    folder = ctx.cell_dir / f"{ctx.log_prefix}lock"
    folder.mkdir(exist_ok=True)
    wanted = requirements(ctx, model_dir)
    (folder / "requirements.in").write_text("\n".join(wanted) + "\n")
    (folder / "constraints.txt").write_text("\n".join(ctx.label.constraints) + "\n")
    record.details["requirements"] = wanted
    done = locks.compile_requirements(folder / "requirements.in", folder / "constraints.txt", state.python_version,
                                      ctx.label.index_url, hashes=True, log=ctx.log(NAME))  # fmt: skip
    if done.returncode != 0:
        raise StageFailed(f"unresolvable on Python {state.python_version}: {uv_reason(done.stderr)}")
    lock = folder / "requirements.lock"
    lock.write_text(done.stdout)
    state.lock_file = lock
    record.reason = f"{len(locks.locked_versions(lock))} packages for Python {state.python_version}: " + ", ".join(
        wanted[:6]
    )
