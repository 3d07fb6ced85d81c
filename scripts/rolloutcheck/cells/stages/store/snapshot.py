"""from-snapshot, to-snapshot, to-read: the store read back with a label's own client and compared.

- from-snapshot: the *from* client's view after writing; every later read must equal it.
- to-snapshot:   the *to* client's view of the upgraded database.
- migrated-snapshot: the *to* client's view of the file store after migrate-filestore.
- to-read:       the *to* client reading the *from* file store directly, unmigrated.
The diff (counts before and after, every difference) is logs/<stage>.diff.txt.
"""

from __future__ import annotations

from collections.abc import Mapping

from rolloutcheck.cells.context import CellContext, StageFailed, StoreState
from rolloutcheck.spec.results import StageResult
from rolloutcheck.stores import scripts as storeops
from rolloutcheck.stores.diff import StoreDiff, counts

MAINTENANCE = "maintenance mode"  # 3.x's refusal to open a file store without MLFLOW_ALLOW_FILE_STORE
ALLOW_FILE_STORE = {"MLFLOW_ALLOW_FILE_STORE": "true"}


class Before:
    """The *from* label's client reads the store it wrote: the snapshot every later read is compared with."""

    NAME = "from-snapshot"

    @staticmethod
    def describe(ctx: CellContext) -> str:
        return f"mlflow {ctx.label.name} reads the store it wrote"

    @staticmethod
    def run(ctx: CellContext, state: StoreState, record: StageResult) -> None:
        state.source.need("environ")
        out = ctx.cell_dir / "snapshot-from.json"
        snapshot = storeops.take_snapshot(ctx.prefix, state.uri, out, ctx.launch("from-snapshot", state.source.environ),
                                          ctx.timeouts.tracking)  # fmt: skip
        state.snapshot = out
        found = counts(snapshot)
        state.result.upgrade["counts"] = found
        record.details["counts"] = found
        record.reason = ", ".join(f"{k} {v}" for k, v in found.items())


class After:
    """The *to* label's client reads the upgraded store: nothing lost or changed against the *from* snapshot."""

    NAME = "to-snapshot"

    @staticmethod
    def describe(ctx: CellContext) -> str:
        return f"mlflow {ctx.label.name} reads the upgraded store: nothing lost or changed"

    @classmethod
    def run(cls, ctx: CellContext, state: StoreState, record: StageResult) -> None:
        state.target.need("environ")
        environ = {**state.target.environ, **(ALLOW_FILE_STORE if state.uri.startswith("file:") else {})}
        title = f"{state.source.result.mlflow_version} wrote, {state.target.result.mlflow_version} read: {state.uri}"
        diff = read_and_compare(ctx, state, cls.NAME, environ, title, record)
        state.result.upgrade["compared"] = diff.before
        record.reason = diff.summary()


class Migrated(After):
    """The file store after `migrate-filestore` (or as it is, where the *to* version has no migration)."""

    NAME = "migrated-snapshot"

    @staticmethod
    def describe(ctx: CellContext) -> str:
        return f"mlflow {ctx.label.name} reads the migrated store: nothing lost or changed"


class DirectRead:
    """The *to* label's client reads the *from* file store as it is, before any migration."""

    NAME = "to-read"

    @staticmethod
    def describe(ctx: CellContext) -> str:
        return f"mlflow {ctx.label.name} reads the file store as it is"

    @staticmethod
    def run(ctx: CellContext, state: StoreState, record: StageResult) -> None:
        state.target.need("environ")
        title = f"{state.target.result.mlflow_version} reads {state.source.result.mlflow_version}'s file store"
        note = ""
        try:
            diff = read_and_compare(ctx, state, "to-read", state.target.environ, title, record)
        except storeops.StoreScriptError as refused:  # snapshot.py exited with mlflow's refusal
            if MAINTENANCE not in refused.reason:
                raise
            # 3.x refuses file stores unless told otherwise: a break of its own (the runner matches it against
            # the written-down ones), then the store read as a team would have to, which proves the setting
            record.details.setdefault("observed", []).append(refused.reason)
            record.details["needs"] = "MLFLOW_ALLOW_FILE_STORE=true"
            note = " (only with MLFLOW_ALLOW_FILE_STORE=true: refused without it, file store in maintenance mode)"
            environ = {**state.target.environ, **ALLOW_FILE_STORE}
            # its own log: a failure of this second read is judged on what it said, not on the first's refusal
            diff = read_and_compare(ctx, state, "to-read", environ, title, record, log_as="to-read-allowed")
        state.result.upgrade["file_store_read"] = "yes" + note
        record.reason = diff.summary() + note


def read_and_compare(
    ctx: CellContext, state: StoreState, stage: str, environ: Mapping[str, str], title: str, record: StageResult,
    log_as: str | None = None,
) -> StoreDiff:  # fmt: skip
    """The store read by `ctx`'s mlflow (snapshot-<stage>.json, its output in logs/<log_as or stage>.log) and
    compared with the *from* snapshot (logs/<stage>.diff.txt); StoreScriptError on any difference."""
    if state.snapshot is None:
        raise StageFailed("no from-snapshot to compare with")
    out = ctx.cell_dir / f"snapshot-{stage}.json"
    after = storeops.take_snapshot(ctx.prefix, state.uri, out, ctx.launch(log_as or stage, environ),
                                   ctx.timeouts.tracking)  # fmt: skip
    record.details["opened"] = {k: v for k, v in environ.items() if k == "MLFLOW_ALLOW_FILE_STORE"} or True
    return storeops.compare_with(
        state.snapshot, after, ctx.cell_dir / "logs" / f"{stage}.diff.txt", title, record.details
    )
