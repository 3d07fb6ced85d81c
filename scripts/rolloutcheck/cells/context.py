"""What stages share: the frozen cell context, the state stages hand on, and how a stage fails."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from rolloutcheck.core.errors import Failure
from rolloutcheck.core.procs import Launch
from rolloutcheck.core.settings import SpeedLimits, Timeouts
from rolloutcheck.drivers.traits import Traits
from rolloutcheck.envs.backends import EnvBackend
from rolloutcheck.inputs.preflight import Candidates, CellConfig
from rolloutcheck.inputs.registry import Label
from rolloutcheck.inputs.usecases import UseCase
from rolloutcheck.spec.results import CellResult


class StageFailed(Failure):
    """A stage's expected failure: one line, and the log to read (default: the stage's own)."""


@dataclass(frozen=True)
class CellContext:
    """Everything a cell knows before its first process starts."""

    config: CellConfig
    backend: EnvBackend | None  # None: `backend_problem` says why no backend could be used
    backend_problem: str | None
    venv: Path  # the cell's environment (the env stage makes it with `python`, or conda-lock beside it)
    cell_dir: Path
    marker: str  # carried by every process the cell starts (procs.py)
    timeouts: Timeouts
    environ: Mapping[str, str]  # what the cell's processes start from
    python_missing: str | None  # why the Python the project names is not here (one line), when it is not
    log_prefix: str = ""  # upgrade cells run some stages for two labels: `from-`, `to-`
    python: str | None = None  # create the env with this Python first (an upgrade's *from* side; nox makes its own)
    limits: SpeedLimits = SpeedLimits()  # when a slower *to* server fails an upgrade
    cache: Path | None = None  # where mlflow builds logged models' own environments (upgrade cells)
    model_cache: Path | None = None  # trained models by their inputs (stores/trained.py); None: always train
    retrain: bool = False  # ROLLOUT_RETRAIN=1: train, and keep the new model for later cells
    # where the cell's own tracking store, project copy and tracking check live, when not in cell_dir: an
    # upgrade cell retrains on the *to* label beside the *from* label's store (cells/upgrade.py)
    store_dir: Path | None = None

    @property
    def label(self) -> Label:
        return self.config.label

    @property
    def usecase(self) -> UseCase:
        return self.config.usecase

    @property
    def prefix(self) -> Path:
        """Where the environment under test lives."""
        return self.backend.prefix(self.venv) if self.backend else self.venv

    @property
    def own_dir(self) -> Path:
        return self.store_dir or self.cell_dir

    def log(self, stage: str) -> Path:
        return self.cell_dir / "logs" / f"{self.log_prefix}{stage}.log"

    def launch(self, stage: str, environ: Mapping[str, str], role: str | None = None) -> Launch:
        return Launch(environ, self.cell_dir, self.log(stage), self.marker, role or f"{self.log_prefix}{stage}")


@dataclass
class CellState:
    """What stages learn and hand on, filled in pipeline order."""

    result: CellResult
    lock_file: Path | None = None
    traits: Traits | None = None
    environ: dict[str, str] | None = None  # the process environment once the env exists
    run_id: str | None = None
    model_key: str | None = None  # the train stage's inputs, digested (None: this cell does not reuse)
    model_inputs: dict | None = None
    reused_from: str | None = None  # `<run>/<group>/<cell>` whose trained model this cell took
    server: object | None = None  # serving.Server
    check: object | None = None  # tracking.TrackingCheck, or tracking.KeptCheck when an earlier one is taken
    check_note: str | None = None  # why a kept check of a kept model was not taken (damaged, unreadable)
    report: object | None = None  # tracking.CheckReport
    python_version: str | None = None  # X.Y of the env (a models cell locks for the Python its model was logged with)

    def need(self, *names: str) -> None:
        """Fail loudly (a bug, not a user error) if an earlier stage did not provide `names`."""
        missing = [n for n in names if getattr(self, n) is None]
        if missing:
            raise RuntimeError(f"pipeline order: {', '.join(missing)} not set by an earlier stage")


@dataclass
class UpgradeState:
    """An upgrade cell: the *from* side trains, logs and serves; the *to* side serves the same model."""

    result: CellResult
    source: CellState  # the *from* label's stages
    target: CellState  # the *to* label's stages
    retrained: CellState | None = None  # the use case trained anew by the *to* label (cells/upgrade.py)
    local: object | None = None  # serving.Server: *to* CLI, *to* environment, the logged artifact
    model_env: object | None = None  # serving.Server: *to* CLI, the model's own rebuilt environment
    known: Callable[[str], Candidates] = lambda stage: ()  # a stage's written-down known breaks here


@dataclass
class StoreState:
    """A tracking-store check: the *from* label writes a store, the *to* label upgrades and reads it."""

    result: CellResult
    source: CellState
    target: CellState
    store_kind: str  # sqlite, postgresql, mysql, filestore, client (storeconfig.STORE_KINDS)
    size: dict  # what the generator writes (storeconfig.Size as a mapping)
    postgres_url: str | None = None  # an existing server to use instead of a private cluster
    mysql_url: str | None = None  # an existing MySQL/MariaDB server instead of a private MariaDB
    copy_of: str | None = None  # a copy of production's store to check instead of a generated one
    uri: str | None = None  # the store under test, as mlflow is given it
    database: object | None = None  # stores/postgres.py or stores/mysql.py Database, for those kinds
    snapshot: Path | None = None  # the *from* client's snapshot, what every later read must equal
    backup: Path | None = None  # the store as it was before the upgrade
    servers: dict = field(default_factory=dict)  # name -> serving.Server (tracking servers of the client check)
    tracking_server: object | None = None  # inputs/production.TrackingServer: production's, as it runs
    serving: object | None = None  # inputs/production.ModelServing: how production serves its models
    auth: object | None = None  # store/serverauth.Auth: the check's own auth database, when production's server has one
    to_prefix: Path | None = None  # the *to* label's environment: a *from* side stage restarts its server
    known: Callable[[str], Candidates] = lambda stage: ()
