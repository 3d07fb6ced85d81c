"""repair: experiments that were deleted when the *from* label wrote the store but read as active after
the move are deleted again with the *to* label's own CLI (a file store kept as it is, 2.x: marked
`deleted` in the meta.yaml 1.x left in .trash/), on a copy of the moved store, and the copy is read
back and compared with what the *from* label wrote.

The commands and their outcome (`proven` or `still fails`, with why) are recorded in `upgrade.repair`
of the cell, so the rollout decision can hand them to the team with the proof that they work, or
keep the finding blocking. Trying is not checking: the stage passes whatever the outcome.
"""

from __future__ import annotations

import re
import shlex
import shutil
from pathlib import Path

from rolloutcheck.cells.context import CellContext, StageFailed, StoreState
from rolloutcheck.cells.stages.store.snapshot import ALLOW_FILE_STORE
from rolloutcheck.core.errors import Failure
from rolloutcheck.spec.results import StageResult
from rolloutcheck.stores import diff as storediff
from rolloutcheck.stores import scripts as storeops

NAME = "repair"
READ_BACK = "migrated-snapshot"  # the stage whose snapshot shows the store after the move


def describe(ctx: CellContext) -> str:
    return f"delete again, with mlflow {ctx.label.name}, experiments the move brought back; read the copy back"


def resurrected(before: dict, after: dict) -> dict[str, str]:
    """Experiment id -> name of those deleted before and not deleted after."""
    return {
        eid: exp["name"]
        for eid, exp in before["experiments"].items()
        if exp["lifecycle_stage"] == "deleted" and after["experiments"].get(eid, {}).get("lifecycle_stage") == "active"
    }


def _copy(uri: str, folder: Path) -> str:
    """A copy of the moved store (SQLite file or file store folder) to repair; its URI."""
    if uri.startswith("sqlite:///"):
        target = folder / "repaired.db"
        shutil.copy2(uri.removeprefix("sqlite:///"), target)
        return f"sqlite:///{target}"
    source = Path(uri.removeprefix("file://"))
    target = folder / "repaired-mlruns"
    shutil.copytree(source, target, symlinks=True, dirs_exist_ok=True)
    return f"file://{target}"


def run(ctx: CellContext, state: StoreState, record: StageResult) -> None:
    state.target.need("environ")
    after_file = ctx.cell_dir / f"snapshot-{READ_BACK}.json"
    if state.snapshot is None or not after_file.is_file():
        raise StageFailed(f"no from-snapshot or {READ_BACK} snapshot to compare")
    gone = resurrected(storediff.load(state.snapshot), storediff.load(after_file))
    if not gone:
        record.reason = "nothing to repair: every deleted experiment is still deleted"
        return
    names = [gone[e] for e in sorted(gone)]
    try:
        commands, diff = _repair(ctx, state, gone, record)
    except Failure as error:
        state.result.upgrade["repair"] = {"experiments": names, "outcome": "still fails", "reason": error.reason}
        record.reason = f"the repair of {', '.join(names)} did not work: {error.reason}"
        return
    state.result.upgrade["repair"] = {
        "experiments": names, "commands": commands, "outcome": "proven",
        "proof": f"the repaired copy reads as the {state.source.result.mlflow_version} store did (the runs of "
                 "those experiments are deleted with them)",
    }  # fmt: skip
    record.reason = f"deleted {len(gone)} experiment(s) again ({', '.join(names)}); the copy reads as written"


def mark_deleted(meta: Path, eid: str) -> str:
    """1.x moved a deleted experiment to .trash/ and left `lifecycle_stage: active` in its meta.yaml,
    which 2.x reads as it is (and its CLI cannot find the experiment to delete it): say `deleted` there.
    The command that does the same on the team's store."""
    text = meta.read_text()
    fixed, count = re.subn(r"(?m)^lifecycle_stage:\s*active\s*$", "lifecycle_stage: deleted", text)
    if not count:
        raise StageFailed(f"{meta} has no `lifecycle_stage: active` to mark deleted")
    meta.write_text(fixed)
    return (
        f"sed -i 's/^lifecycle_stage: active$/lifecycle_stage: deleted/' <mlruns>/.trash/{shlex.quote(eid)}/meta.yaml"
    )


def _repair(
    ctx: CellContext, state: StoreState, gone: dict[str, str], record: StageResult
) -> tuple[list[str], storediff.StoreDiff]:
    folder = ctx.cell_dir / "store"
    folder.mkdir(exist_ok=True)
    uri = _copy(state.uri, folder)
    environ = {**state.target.environ, "MLFLOW_TRACKING_URI": uri, **ALLOW_FILE_STORE}
    launch = ctx.launch(NAME, environ)
    commands = []
    for eid in sorted(gone):
        trashed = Path(uri.removeprefix("file://")) / ".trash" / eid / "meta.yaml"
        if uri.startswith("file://") and trashed.is_file():  # a file store kept as it is (2.x): the cause itself
            commands.append(mark_deleted(trashed, eid))
            continue
        command = [str(ctx.prefix / "bin" / "mlflow"), "experiments", "delete", "--experiment-id", eid]
        storeops.run_to_end(command, "`mlflow experiments delete`", launch, ctx.timeouts.tracking)
        commands.append(
            f"MLFLOW_TRACKING_URI=<moved store> mlflow experiments delete --experiment-id {shlex.quote(eid)}"
        )
    out = ctx.cell_dir / f"snapshot-{NAME}.json"
    repaired = storeops.take_snapshot(ctx.prefix, uri, out, launch, ctx.timeouts.tracking)
    title = f"{state.source.result.mlflow_version} wrote, {state.target.result.mlflow_version} moved and repaired"
    before = storediff.load(state.snapshot)
    diff = storediff.compare(before, repaired)
    diff.write(ctx.cell_dir / "logs" / f"{NAME}.diff.txt", title)
    # deleting an experiment deletes its runs too (2.x+); 1.x left them active in a deleted experiment
    cascaded = {f"run {rid} 'lifecycle_stage': 'active' -> 'deleted'" for rid, run in before["runs"].items()
                if run.get("experiment_id") in gone}  # fmt: skip
    left = [d for d in diff.differences if d not in cascaded]
    record.details.update({"differences": len(left), "runs deleted with their experiment": len(diff.differences)
                           - len(left)})  # fmt: skip
    if left:
        raise StageFailed(f"{len(left)} difference(s) left after the repair, first: {left[0]}")
    return commands, diff
