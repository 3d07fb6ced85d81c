"""One tracking-store check: does what production's tracking holds survive the move to another label?

The store kind is the cell (`nox -s "store-upgrade-3.17.2(sqlite)"`); each runs the trunk
    config, from-lock, from-env, to-lock, to-env
and then
    sqlite, postgresql: store, populate, from-train, from-snapshot, backup, check-upgrade, db-upgrade,
                        to-snapshot, rollback
    filestore:          store, populate, from-train, from-snapshot, to-read, migrate, migrated-snapshot,
                        to-tracking, to-serve, to-probe
    client:             tracking-server, from-train, to-tracking, to-serve, to-probe,
                        old-server, new-client (a branch: newer clients against older servers)
The environments are the store use case's plus database drivers, locked under envs/_stores/<label>/.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from rolloutcheck.cells.context import CellContext, CellState, StageFailed, StoreState
from rolloutcheck.cells.runner import StageRunner
from rolloutcheck.cells.stages import env, lock, probe, serve, tracking, train
from rolloutcheck.cells.stages.store import create as store
from rolloutcheck.cells.stages.store import dbupgrade, filestore, populate, trackserver
from rolloutcheck.cells.stages.store import snapshot as storesnap
from rolloutcheck.cells.validate import guarded, make_context, start_cell
from rolloutcheck.core import paths
from rolloutcheck.core.errors import ConfigError
from rolloutcheck.core.settings import Settings
from rolloutcheck.core.steplog import Printer, StepLog, stderr
from rolloutcheck.envs import interpreter
from rolloutcheck.inputs import preflight
from rolloutcheck.inputs import stores as storeconfig
from rolloutcheck.inputs.registry import Label
from rolloutcheck.models.results import CellResult


def _trunk(runner: StageRunner, source: CellContext, target: CellContext, state: StoreState) -> None:
    runner.run(lock, source, state.source, "from-lock")
    runner.run(env, source, state.source, "from-env")
    runner.run(lock, target, state.target, "to-lock")
    runner.run(env, target, state.target, "to-env")


def _plain(ctx: CellContext) -> CellContext:
    """The context for the store stages, which name their logs in full (`from-snapshot`, `db-upgrade`);
    the shared stages (lock, env, train, ...) get their `from-` / `to-` prefix from the context."""
    return dataclasses.replace(ctx, log_prefix="")


def _written(runner: StageRunner, source: CellContext, state: StoreState) -> None:
    runner.run(store, _plain(source), state)
    runner.run(populate, _plain(source), state)
    runner.run(train, source, state.source, "from-train")  # the use case's own model, in the same store
    runner.run(storesnap.Before, _plain(source), state)


def _served(runner: StageRunner, target: CellContext, state: StoreState) -> None:
    """The *to* label checks the *from* label's run and serves its model from the store (runs:/)."""
    state.target.run_id = state.source.run_id
    with runner.branch():  # a known break in serving leaves the rest of the check running
        runner.run(tracking, target, state.target, "to-tracking")
        runner.run(serve, target, state.target, "to-serve")
        runner.run(probe, target, state.target, "to-probe")


def _database(runner: StageRunner, source: CellContext, target: CellContext, state: StoreState) -> None:
    _written(runner, source, state)
    runner.run(dbupgrade.Backup, _plain(target), state)
    runner.run(dbupgrade.CheckUpgrade, _plain(target), state)
    runner.run(dbupgrade.Upgrade, _plain(target), state)
    runner.run(storesnap.After, _plain(target), state)
    runner.run(dbupgrade.Rollback, _plain(source), state)


def _filestore(runner: StageRunner, source: CellContext, target: CellContext, state: StoreState) -> None:
    _written(runner, source, state)
    with runner.branch():  # whether the old store reads as it is; the migration is checked either way
        runner.run(storesnap.DirectRead, _plain(target), state)
    runner.run(filestore, _plain(target), state)
    with runner.branch():  # a known difference in the migrated store still lets its model be served
        runner.run(storesnap.Migrated, _plain(target), state)
    _served(runner, target, state)


def _client(runner: StageRunner, source: CellContext, target: CellContext, state: StoreState) -> None:
    runner.run(trackserver.NewServer, _plain(target), state)
    runner.run(train, source, state.source, "from-train")
    _served(runner, target, state)
    with runner.branch():
        runner.run(trackserver.OldServer, _plain(source), state)
        runner.run(trackserver.NewClient, _plain(target), state)


PIPELINES = {"sqlite": _database, "postgresql": _database, "filestore": _filestore, "client": _client}


def store_venv(label: Label, source: Label | None = None) -> Path:
    """The store environments, in nox's folder: one per label, and one *from* env per *to* label (so
    that `make -j2` never fills one env from two processes)."""
    name = f"stores-{paths.slug(label.name)}" + (f"-from-{paths.slug(source.name)}" if source else "")
    return paths.ROOT / ".nox" / name


def run_store_cell(
    source: Label, target: Label, kind: str, settings: Settings, *, printer: Printer = stderr
) -> CellResult:
    cell_dir, marker = start_cell(settings, target.name, kind, "store-upgrade", printer)
    result = CellResult(label=target.name, usecase=kind, cell_dir=str(cell_dir), kind="store-upgrade",
                        from_label=source.name)  # fmt: skip
    state = StoreState(result, CellState(CellResult(source.name, kind, str(cell_dir))), CellState(result), kind, {},
                       postgres_url=settings.postgres_url, copy_of=settings.store_copy)  # fmt: skip
    runner = StageRunner(result, StepLog(f"{source.name} -> {target.name} store {kind}", printer), cell_dir / "logs",
                         known=lambda stage: state.known(stage))  # fmt: skip
    contexts: dict[str, CellContext] = {}

    def configure(record) -> None:
        try:
            config = storeconfig.load()
            if kind not in config.stores:
                raise ConfigError(
                    storeconfig.STORES_FILE, f"{kind!r} is not listed; listed: {', '.join(config.stores)}", "stores"
                )
            size = config.size(settings.store_size)
            project = preflight.check(source, config.project.name)
        except ConfigError as error:
            raise StageFailed(str(error)) from None
        state.size = dataclasses.asdict(size)
        python, _ = interpreter.interpreter_for(config.project.name)
        for side, label, prefix, venv in (
            ("source", source, "from-", store_venv(target, source)),
            ("target", target, "to-", store_venv(target)),
        ):
            cell_config = preflight.CellConfig(label, config.environment, project.probes)
            base = make_context(settings, cell_config, venv, cell_dir, marker, None, result)
            contexts[side] = dataclasses.replace(base, log_prefix=prefix, python=python)
        state.known = lambda stage: preflight.known_break(
            config.breaks, stage, state.source.result.mlflow_version, result.mlflow_version
        )
        record.reason = f"{kind} store, size {settings.store_size} ({state.size}), from {source.name} to {target.name}"

    def body() -> None:
        if runner.step("config", f"checking the {kind} store check for {source.name} and {target.name}", configure):
            _trunk(runner, contexts["source"], contexts["target"], state)
            PIPELINES[kind](runner, contexts["source"], contexts["target"], state)

    def cleanup() -> None:
        serve.stop(state.target)
        trackserver.stop(state)
        for side in ("source", "target"):
            if side in contexts:
                tracking.stop(contexts[side], getattr(state, side))
        store.stop(state)
        result.upgrade.setdefault("from_mlflow", state.source.result.mlflow_version)
        result.run_id = state.source.result.run_id

    guarded(runner, marker, body, cleanup)
    return result
