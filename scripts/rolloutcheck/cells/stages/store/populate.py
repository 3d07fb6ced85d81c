"""populate: the *from* label's own client writes a deterministic store (inenv/populate.py)."""

from __future__ import annotations

import json

from rolloutcheck.cells.context import CellContext, StageFailed, StoreState
from rolloutcheck.spec.results import StageResult
from rolloutcheck.stores import scripts as storeops

NAME = "populate"


def describe(ctx: CellContext) -> str:
    return f"mlflow {ctx.label.name} writes experiments, runs, metric histories, artifacts, models"


def run(ctx: CellContext, state: StoreState, record: StageResult) -> None:
    state.source.need("environ")
    if state.uri is None:
        raise StageFailed("no store to write (the store stage made none)")
    if state.copy_of and "copy_of" in state.result.upgrade:
        record.reason = f"nothing generated: the store is a copy of production's ({state.result.upgrade['copy_of']})"
        return
    out = ctx.cell_dir / "populate.json"
    launch = ctx.launch(NAME, state.source.environ)
    points = state.size["experiments"] * state.size["runs"] * state.size["steps"] * 2
    timeout = ctx.timeouts.train + points / 20  # 1.x clients write about 55 metric points a second
    storeops.run_script(ctx.prefix, "populate.py", [state.uri, json.dumps(state.size), str(out)], launch, timeout)
    written = json.loads(out.read_text())
    record.details.update(written)
    state.result.upgrade["written"] = written["written"]
    state.result.upgrade["unsupported"] = written["unsupported"]
    counts = written["written"]
    record.reason = (f"{counts['experiments']} experiments, {counts['runs']} runs, {counts['metric_points']} metric "
                     f"points, {counts['models']} models, {counts['registered_models']} registered")  # fmt: skip
    if written["unsupported"]:
        record.reason += f"; not in mlflow {written['mlflow_version']}: " + "; ".join(written["unsupported"])
