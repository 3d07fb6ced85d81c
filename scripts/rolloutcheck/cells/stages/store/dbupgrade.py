"""backup, check-upgrade, db-upgrade, schema, rollback: a database store through the *to* label's migrations.

- backup:        the database before anything touches it (a file copy; `pg_dump`, `mariadb-dump`).
- check-upgrade: the *to* label's `mlflow db check-upgrade` verdict where that command exists.
- db-upgrade:    `mlflow db upgrade`, with the Alembic revision before and after and the time it took.
- schema:        the migrated schema against a fresh store's of the *to* label (stores/schemadiff.py).
- rollback:      the backup restored, and the *from* client reads it exactly as before the upgrade.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

from rolloutcheck.cells.context import CellContext, StageFailed, StoreState
from rolloutcheck.cells.stages.store import absence, snapshot
from rolloutcheck.core import paths, versionmatch
from rolloutcheck.core.procs import run_logged
from rolloutcheck.core.steplog import last_error_line
from rolloutcheck.inputs import stores as storeconfig
from rolloutcheck.spec.results import StageResult
from rolloutcheck.stores import schemadiff
from rolloutcheck.stores import scripts as storeops


def _sqlite_file(state: StoreState) -> Path:
    return Path(state.uri.removeprefix("sqlite:///"))


def revision(ctx: CellContext, state: StoreState, stage: str) -> str:
    """The store's Alembic revision, read with the *to* environment's SQLAlchemy."""
    log = ctx.log(stage)
    state.target.need("environ")
    command = [str(ctx.prefix / "bin" / "python"), str(paths.INENV / "revision.py"), state.uri]
    code, lines = run_logged(command, log, state.target.environ)
    if code != 0:
        raise StageFailed(f"could not read the Alembic revision: {lines[-1] if lines else 'no output'}")
    return lines[-1]


def read_schema(ctx: CellContext, state: StoreState, which: str, uri: str, fresh: bool = False) -> dict:
    """The schema of `uri` (drivers/inenv/schema.py in the *to* environment), kept as logs/schema-<which>.json."""
    out = ctx.cell_dir / "logs" / f"schema-{which}.json"
    command = [str(ctx.prefix / "bin" / "python"), str(paths.INENV / "schema.py"), uri, str(out)]
    code, lines = run_logged([*command, *(["--fresh"] if fresh else [])], ctx.log("schema"), state.target.environ)
    if code != 0:
        raise StageFailed(f"could not read the {which} schema: {last_error_line(chr(10).join(lines))}")
    return json.loads(out.read_text())


def left_behind(ctx: CellContext, state: StoreState) -> dict:
    """What a failed migration left: the Alembic revision and the tables present (how far it got)."""
    try:
        schema = read_schema(ctx, state, "after-failure", state.uri)
    except StageFailed as error:
        return {"text": f"unreadable ({error.reason})"}
    tables = sorted(schema["tables"])
    text = f"at Alembic revision {schema['revision']} with {len(tables)} tables (the rollback stage restores it)"
    return {"revision": schema["revision"], "tables": tables, "text": text}


class Backup:
    """A copy of the database before the upgrade (a file copy for SQLite, `pg_dump` for PostgreSQL)."""

    NAME = "backup"

    @staticmethod
    def describe(ctx: CellContext) -> str:
        return "a copy of the database before the upgrade"

    @staticmethod
    def run(ctx: CellContext, state: StoreState, record: StageResult) -> None:
        target = ctx.cell_dir / "backup"
        target.mkdir(exist_ok=True)
        if state.database is not None:
            state.backup = state.database.dump(target / "mlflow.dump")  # a PostgresError fails the stage
        else:
            state.backup = shutil.copy2(_sqlite_file(state), target / "mlflow.db")
        record.reason = f"{state.backup.name}, {state.backup.stat().st_size} bytes"
        record.details["backup"] = str(state.backup)


class CheckUpgrade:
    """The *to* label's verdict on the pending migrations, before any is applied."""

    NAME = "check-upgrade"

    @staticmethod
    def describe(ctx: CellContext) -> str:
        return f"mlflow {ctx.label.name}'s verdict on the pending migrations"

    @staticmethod
    def run(ctx: CellContext, state: StoreState, record: StageResult) -> None:
        mlflow = str(ctx.prefix / "bin" / "mlflow")
        if not storeops.has_command(ctx.prefix, ["db"], "check-upgrade", ctx.log("check-upgrade")):
            record.reason = f"mlflow {state.target.result.mlflow_version} has no `mlflow db check-upgrade`: no verdict"
            state.result.upgrade["check_upgrade"] = "not available"
            record.details["available"] = False
            return
        code, lines = run_logged([mlflow, "db", "check-upgrade", state.uri], ctx.log("check-upgrade"),
                                 state.target.environ)  # fmt: skip
        verdict = {0: "SAFE", 1: "CAUTIOUS", 2: "BREAKING"}.get(code)
        if verdict is None:
            raise StageFailed(f"mlflow db check-upgrade failed (exit {code}): {lines[-1] if lines else 'no output'}")
        state.result.upgrade["check_upgrade"] = verdict
        record.reason = f"verdict {verdict}"  # recorded; the upgrade itself decides the cell


class Upgrade:
    """`mlflow db upgrade` with the *to* label, timed (the tracking server's downtime)."""

    NAME = "db-upgrade"

    @staticmethod
    def describe(ctx: CellContext) -> str:
        return f"mlflow {ctx.label.name} db upgrade"

    @staticmethod
    def run(ctx: CellContext, state: StoreState, record: StageResult) -> None:
        before = revision(ctx, state, "db-upgrade")
        started = time.monotonic()
        log = ctx.log("db-upgrade")
        code, lines = run_logged([str(ctx.prefix / "bin" / "mlflow"), "db", "upgrade", state.uri], log,
                                 state.target.environ)  # fmt: skip
        seconds = round(time.monotonic() - started, 2)
        if code != 0:
            left = record.details["left"] = left_behind(ctx, state)
            raise StageFailed(f"mlflow db upgrade failed (exit {code}): {last_error_line(chr(10).join(lines))}; "
                              f"the store was left {left['text']}")  # fmt: skip
        after = revision(ctx, state, "db-upgrade")
        migration = {"revision_before": before, "revision_after": after, "seconds": seconds}
        state.result.upgrade["migration"] = migration
        record.details.update(migration)
        record.reason = f"Alembic {before} -> {after} in {seconds:.1f}s"
        # the drivers the check added, each left out in turn: needed, or not needed for this label
        version = state.target.result.mlflow_version or ""
        pins = [p for p in storeconfig.load().pins if not p.specifier or versionmatch.matches(p.specifier, version)]
        shown = absence.run_all(ctx, state, pins)
        if shown:
            state.result.upgrade["absence"] = record.details["absence"] = shown
            record.reason += "; without: " + ", ".join(f"{o['pin']} {o['outcome']}" for o in shown)


class Schema:
    """The migrated schema against the schema a fresh store of the *to* label gets (its tracking server's
    own initialisation), read with SQLAlchemy's inspector in the *to* environment: tables, columns and
    types, primary and foreign keys, unique constraints, indexes and the Alembic revision all equal."""

    NAME = "schema"

    @staticmethod
    def describe(ctx: CellContext) -> str:
        return f"the migrated schema equals a fresh mlflow {ctx.label.name} store's"

    @staticmethod
    def run(ctx: CellContext, state: StoreState, record: StageResult) -> None:
        state.target.need("environ")
        if state.database is not None:
            fresh_uri = state.database.sibling("rolloutcheck_fresh")  # a Postgres/MysqlError fails the stage
        else:
            fresh = ctx.cell_dir / "store" / "fresh.db"
            fresh.unlink(missing_ok=True)
            fresh_uri = f"sqlite:///{fresh}"
        schemas = {"migrated": read_schema(ctx, state, "migrated", state.uri),
                   "fresh": read_schema(ctx, state, "fresh", fresh_uri, fresh=True)}  # fmt: skip
        found = schemadiff.differences(schemas["migrated"], schemas["fresh"])
        (ctx.cell_dir / "logs" / "schema.diff.txt").write_text("\n".join(found) + "\n" if found else "none\n")
        state.result.upgrade["schema"] = record.details["schema"] = {
            "dialect": schemas["fresh"]["dialect"], "tables": len(schemas["fresh"]["tables"]),
            "revision": schemas["fresh"]["revision"], "differences": found[:50], "count": len(found),
        }  # fmt: skip
        if found:
            raise StageFailed(schemadiff.summary(found), ctx.cell_dir / "logs" / "schema.diff.txt")
        record.reason = (
            f"{schemas['fresh']['dialect']}: {len(schemas['fresh']['tables'])} tables " + schemadiff.summary(found)
        )


class Rollback:
    """The backup restored and read again: the way back works."""

    NAME = "rollback"

    @staticmethod
    def describe(ctx: CellContext) -> str:
        return f"the backup restored, read again by mlflow {ctx.label.name}"

    @staticmethod
    def run(ctx: CellContext, state: StoreState, record: StageResult) -> None:
        state.source.need("environ")
        if state.backup is None:
            raise StageFailed("no backup to roll back to")
        if state.database is not None:
            state.database.restore(state.backup)  # a PostgresError fails the stage
        else:
            shutil.copy2(state.backup, _sqlite_file(state))
        title = f"{state.source.result.mlflow_version} reads the restored backup"
        diff = snapshot.read_and_compare(ctx, state, "rollback", state.source.environ, title, record)
        record.reason = f"restored; from client reads it: {diff.summary()}"
