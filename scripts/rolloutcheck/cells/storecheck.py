"""A tracking-store check: does what production's tracking holds survive the move to another label?

The store kind is the cell (`nox -s "store-upgrade-3.17.2(sqlite)"`); each kind's stages are
declared in spec/kinds.py (STORE_UPGRADE): both labels' envs, then for
    sqlite, postgresql: the store written and snapshotted by the *from* label, backed up, upgraded
                        (`mlflow db upgrade`), read by the *to* label, rolled back;
    filestore:          the store written, read as it is, migrated, read, its model served;
    client:             a *to* tracking server that *from* clients write to, its model served, and
                        newer clients against an older server (a branch).
The environments are the store use case's plus database drivers, locked under envs/_stores/<label>/.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from rolloutcheck.cells import lifecycle
from rolloutcheck.cells.context import CellContext, CellState, StoreState
from rolloutcheck.cells.stages import serve, tracking
from rolloutcheck.cells.stages.store import create, trackserver
from rolloutcheck.cells.validate import make_context
from rolloutcheck.core import paths
from rolloutcheck.core.errors import ConfigError, NotChecked
from rolloutcheck.envs import interpreter
from rolloutcheck.inputs import preflight, production
from rolloutcheck.inputs import stores as storeconfig
from rolloutcheck.inputs.registry import Label
from rolloutcheck.spec.kinds import Side
from rolloutcheck.spec.results import CellResult, StageResult
from rolloutcheck.stores import mysql
from rolloutcheck.stores import postgres as pgcluster


def store_venv(label: Label, source: Label | None = None) -> Path:
    """The store environments, in nox's folder: one per label, and one *from* env per *to* label (so
    that `make -j2` never fills one env from two processes)."""
    name = f"stores-{paths.slug(label.name)}" + (f"-from-{paths.slug(source.name)}" if source else "")
    return paths.NOX_DIR / name


class StoreCell:
    def __init__(self, started: lifecycle.Started):
        self.started, self.request = started, started.request
        request, result = self.request, started.result
        kind, settings = request.variant, request.settings
        self.state = StoreState(result, CellState(CellResult(request.source.name, kind, str(started.cell_dir))),
                                CellState(result), kind, {}, postgres_url=settings.postgres_url,
                                mysql_url=settings.mysql_url, copy_of=settings.store_copy)  # fmt: skip
        self.contexts: dict[Side, CellContext] = {}

    def title(self) -> str:
        return f"{self.request.source.name} -> {self.request.label.name} store {self.request.variant}"

    def what(self) -> str:
        request = self.request
        return f"checking the {request.variant} store check for {request.source.name} and {request.label.name}"

    def configure(self, record: StageResult) -> None:
        request, started, state = self.request, self.started, self.state
        source, target, kind, settings = request.source, request.label, request.variant, request.settings
        config = storeconfig.load()  # a ConfigError fails the config stage
        if kind not in config.stores:
            message = f"{kind!r} is not listed; listed: {', '.join(config.stores)}"
            raise ConfigError(storeconfig.STORES_FILE, message, "stores")
        try:  # a server this machine lacks: the check cannot run here, said with its install line (never a verdict)
            if kind == "mysql" and not settings.mysql_url:
                mysql.require()
            if kind == "postgresql" and not settings.postgres_url:
                pgcluster.bindir()
        except (mysql.MysqlError, pgcluster.PostgresError) as error:
            raise NotChecked(f"{kind} store check not run on this machine: {error.reason}") from None
        declared = production.load(settings.production_file)
        if production.TRACKING_KINDS[declared.tracking_kind] == kind:  # its server runs on its own store kind
            state.tracking_server = declared.server  # production's tracking server as it runs (store/prodserver.py)
        state.serving = declared.serving  # production's model serving command (store/prodserving.py)
        if not self.state.copy_of and declared.tracking_at != production.GENERATED:
            if production.TRACKING_KINDS[declared.tracking_kind] == kind:  # production's own store: its copy
                self.state.copy_of = declared.tracking_at
        size = config.size(settings.store_size)
        project = preflight.check(source, config.project.name)
        state.size = dataclasses.asdict(size)
        started.result.upgrade["usecase"] = config.project.name  # whose model the store holds (the decision cites it)
        python, _ = interpreter.interpreter_for(config.project.name, source)
        for side, label, prefix, venv in (
            (Side.FROM, source, "from-", store_venv(target, source)),
            (Side.TO, target, "to-", store_venv(target)),
        ):
            self.contexts[side] = make_context(
                settings=settings, config=preflight.CellConfig(label, config.environment, project.probes), venv=venv,
                cell_dir=started.cell_dir, marker=started.marker, python_missing=None, result=started.result,
                log_prefix=prefix, python=python, reuse_models=False,  # from-train writes into the store under check
            )  # fmt: skip
        # the store stages name their logs in full (`from-snapshot`, `db-upgrade`)
        self.contexts[Side.FROM_ALL] = dataclasses.replace(self.contexts[Side.FROM], log_prefix="")
        self.contexts[Side.TO_ALL] = dataclasses.replace(self.contexts[Side.TO], log_prefix="")
        state.known = lambda stage: preflight.known_breaks(
            config.breaks, stage, state.source.result.mlflow_version, started.result.mlflow_version
        )
        record.reason = f"{kind} store, size {settings.store_size} ({state.size}), from {source.name} to {target.name}"

    def bind(self, side: Side) -> tuple[CellContext, object]:
        state = self.state
        if side is Side.TO:  # the *to* label checks and serves the run the *from* label wrote (runs:/)
            state.target.run_id = state.target.run_id or state.source.run_id
        states = {Side.FROM: state.source, Side.TO: state.target, Side.FROM_ALL: state, Side.TO_ALL: state}
        return self.contexts[side], states[side]

    def known(self, stage: str) -> preflight.Candidates:
        return self.state.known(stage)

    def cleanup(self) -> None:
        state, result = self.state, self.started.result
        serve.stop(state.target)
        trackserver.stop(state)
        for side, side_state in ((Side.FROM, state.source), (Side.TO, state.target)):
            if side in self.contexts:
                tracking.stop(self.contexts[side], side_state)
        create.stop(state)
        result.upgrade.setdefault("from_mlflow", state.source.result.mlflow_version)
        result.run_id = state.source.result.run_id
