"""migrate: the *from* file store moved into SQLite with the *to* label's `mlflow migrate-filestore`
(3.10 and later). On a *to* version without it the file store stays what production uses: the stage
says so and passes, and to-read has already shown whether that version reads it."""

from __future__ import annotations

import time

from rolloutcheck.cells.context import CellContext, StageFailed, StoreState
from rolloutcheck.cells.stages.store.snapshot import ALLOW_FILE_STORE
from rolloutcheck.core.procs import run_logged
from rolloutcheck.core.steplog import last_error_line
from rolloutcheck.spec.results import StageResult
from rolloutcheck.stores import scripts as storeops

NAME = "migrate"


def describe(ctx: CellContext) -> str:
    return f"mlflow {ctx.label.name} migrate-filestore into SQLite"


def run(ctx: CellContext, state: StoreState, record: StageResult) -> None:
    state.target.need("environ")
    mlflow = str(ctx.prefix / "bin" / "mlflow")
    log = ctx.log(NAME)
    if not storeops.has_command(ctx.prefix, [], "migrate-filestore", log):
        record.reason = (f"not applicable: mlflow {state.target.result.mlflow_version} has no migrate-filestore "
                         "(3.10+); the file store is kept")  # fmt: skip
        record.details["applicable"] = False
        state.result.upgrade["migrated"] = "n/a"
        state.target.environ.update({"MLFLOW_TRACKING_URI": state.uri, **ALLOW_FILE_STORE})
        return
    source = state.uri.removeprefix("file://")
    target = ctx.cell_dir / "store" / "migrated.db"
    started = time.monotonic()
    code, lines = run_logged([mlflow, "migrate-filestore", "--source", source, "--target", f"sqlite:///{target}"], log)
    seconds = round(time.monotonic() - started, 2)
    if code != 0:
        raise StageFailed(f"migrate-filestore failed (exit {code}): {last_error_line(chr(10).join(lines))}")
    state.uri = f"sqlite:///{target}"  # what the later stages read and serve from
    state.target.environ["MLFLOW_TRACKING_URI"] = state.uri
    state.result.upgrade["migration"] = {"to": state.uri, "seconds": seconds}
    state.result.upgrade["migrated"] = "sqlite"
    record.details.update({"target": state.uri, "seconds": seconds})
    record.reason = f"into {target.name} in {seconds:.1f}s"
