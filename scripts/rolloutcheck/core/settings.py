"""Settings, resolved once from environment variables into a frozen object that is passed down.

Nothing reads the environment at import time and nothing writes it: the entry points (noxfile,
CLI) call `Settings.from_environ()` once. Every variable the tool reads is declared in `VARIABLES`
below: the documentation's settings table is made from it (reports/reference.py), and a test checks
that every variable read is declared and every declared one read.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from urllib.parse import urlsplit

from rolloutcheck.core import paths
from rolloutcheck.core.errors import Failure

TOOL_ENVIRONMENT = ("UV_PYTHON", "UV_PROJECT_ENVIRONMENT", "VIRTUAL_ENV", "CONDA_PREFIX")
# Set on some machines and CI images; in a cell's processes it makes every mlflow process compile its
# modules from source again (measured: importing 3.17.2's pyfunc 4.5 s instead of 1.8 s, 1.2.0's 3.9 s
# instead of 1.2 s, in every train, check and server process). The bytecode lands beside the packages
# of the environments the tool builds (.nox/, .cache/); the scripts it runs in them are run as scripts.
NO_BYTECODE = "PYTHONDONTWRITEBYTECODE"


@dataclass(frozen=True)
class Variable:
    name: str  # `<LABEL>` stands for a label's key (registry.py: upper-cased, non-alphanumerics as `_`)
    default: str
    what: str


V = Variable
VARIABLES: tuple[Variable, ...] = (
    V("ROLLOUT_RESULTS", "`results`", "where runs, lock logs and merged requirements go"),
    V("ROLLOUT_RUN_DIR", "`results/runs/<UTC time>-<pid>`", "the run folder (`make matrix` shares one between labels)"),
    V("ROLLOUT_VERSIONS_OVERRIDE", "`envs/versions.local.yaml`", "a team's registry override (internal builds)"),
    V("ROLLOUT_MLFLOW__<LABEL>", "", "the mlflow requirement of a label (`ROLLOUT_MLFLOW__1_2_SBD_0`: another build)"),
    V("ROLLOUT_INDEX_URL__<LABEL>", "", "the extra package index of a label (an internal build's index)"),
    V("ENV_BACKEND", "`auto`", "`auto` (conda when a conda executable is found), `uv` or `conda`"),
    V("ROLLOUT_TRAIN_TIMEOUT", "900 s", "the train stage (`mlflow run`)"),
    V("ROLLOUT_SERVE_TIMEOUT", "180 s", "a model server's start, until `/ping` answers"),
    V("ROLLOUT_TRACKING_TIMEOUT", "300 s", "the tracking checks of a cell"),
    V("ROLLOUT_MODEL_ENV_TIMEOUT", "1200 s", "building and serving a logged model's own environment (upgrades)"),
    V("ROLLOUT_PRODUCTION", "`envs/production.yaml`", "the production declaration a rollout answers for (a team's "
      "own file, kept outside the tool's tree)"),
    V("ROLLOUT_FROM", "`label:` of `envs/production.yaml`", "the label upgrades start from (overrides production's)"),
    V("ROLLOUT_SPEED_P95_RATIO", "1.5", "a speed regression: p95 ratio above this in every repeat (and ..._MIN_MS); "
      "per use case `speed: {p95_ratio, p95_min_ms}` in `usecase.yaml`"),
    V("ROLLOUT_SPEED_P95_MIN_MS", "5", "... and p95 slower by more than this many milliseconds"),
    V("ROLLOUT_SPEED_SECONDS", "10", "a speed stage stops after this many seconds per server (upgrades: per path)"),
    V("ROLLOUT_SPEED_REPEATS", "5", "interleaved repeats of a speed comparison: a regression only when all agree, "
      "`inconclusive` when they straddle the rule"),
    V("ROLLOUT_SPEED_WORKERS", "2", "`--workers` tried on a slower *to* server (the speed remedy); 1: not tried"),
    V("ROLLOUT_SPEED_QUIET_WAIT", "900 s", "a speed comparison waits this long for other stages to end (0: at once); "
      "a busy machine is said beside the figures"),
    V("ROLLOUT_SPEED_REQUESTS", "the use case's `load.requests`", "requests per probe of a validate cell's load "
      "(still time-bounded)"),
    V("ROLLOUT_STORE_SIZE", "`default`", "how much the store check writes: a `size:` of `envs/stores.yaml`"),
    V("ROLLOUT_POSTGRES_URL", "", "an existing PostgreSQL server (`postgresql://user@host:port/postgres`) instead of "
      "a private cluster; the check makes and drops a database of its own there"),
    V("ROLLOUT_MYSQL_URL", "", "an existing MySQL/MariaDB server (`mysql://user@host:port/`, no password: PyMySQL "
      "could only get one written into mlflow's URL) instead of a private MariaDB; the check makes and drops a "
      "database of its own there"),
    V("ROLLOUT_STORE_COPY", "`tracking.at` of `envs/production.yaml`", "a copy of production's tracking store to "
      "check instead of a generated one (overrides production's)"),
    V("ROLLOUT_MODELS_FROM", "", "a copy of production's tracking store whose models `models-<label>` checks "
      "(read, never written)"),
    V("ROLLOUT_EXTRA_USECASES", "", "more folders laid out as the repository (`usecases/`, `probes/`, `envs/`), "
      "`:`-separated: their use cases are cells too (`examples/teams`)"),
    V("ROLLOUT_RETRAIN", "", "`1` (`make ... RETRAIN=1`): train every cell's model again, even when one of the same "
      "inputs is kept"),
    V("ROLLOUT_FAIL_FAST", "", "`1` (`make ... FAIL_FAST=1`): a cell stops at its first failed stage, the rest "
      "skipped saying so (no remedies tried: a developer reproducing one failure, not a decision)"),
)  # fmt: skip


class SettingsError(Failure, ValueError):
    """A setting has a value the tool cannot use; the message is one line naming the variable."""


@dataclass(frozen=True)
class Timeouts:
    train: float = 900.0
    serve: float = 180.0
    tracking: float = 300.0
    model_env: float = 1200.0


@dataclass(frozen=True)
class SpeedLimits:
    """When the *to* server is slower enough to fail an upgrade: both conditions must hold."""

    p95_ratio: float = 1.5
    p95_min_ms: float = 5.0
    validate_seconds: float = 10.0  # a speed stage's load stops here per server (an upgrade's: per path)
    validate_requests: int | None = None  # instead of the use case's load.requests in validate cells
    repeats: int = 5  # an upgrade's comparison, repeated: a verdict only when the repeats agree
    workers: int = 2  # what the speed remedy tries (`mlflow models serve --workers`); 1: no remedy tried
    quiet_wait: float = 900.0  # a comparison runs alone on the machine (core/quiet.py), waiting at most this


@dataclass(frozen=True)
class Settings:
    results: Path
    run_dir: Path
    versions_file: Path
    versions_override: Path
    env_backend: str
    timeouts: Timeouts
    speed: SpeedLimits = field(default_factory=SpeedLimits)
    production_file: Path = paths.ENVS / "production.yaml"  # ROLLOUT_PRODUCTION: the production declaration
    from_label: str | None = None  # ROLLOUT_FROM: where upgrades start (default: envs/production.yaml)
    store_size: str = "default"  # ROLLOUT_STORE_SIZE: a size of envs/stores.yaml
    postgres_url: str | None = None  # ROLLOUT_POSTGRES_URL: an existing server's admin database
    mysql_url: str | None = None  # ROLLOUT_MYSQL_URL: an existing MySQL/MariaDB server, no password
    store_copy: str | None = None  # ROLLOUT_STORE_COPY: a copy of production's tracking store
    extra_usecases: tuple[Path, ...] = ()  # ROLLOUT_EXTRA_USECASES: folders of more use cases (paths.py)
    models_from: str | None = None  # ROLLOUT_MODELS_FROM: a copy of production's store, its models checked
    retrain: bool = False  # ROLLOUT_RETRAIN=1: train even when a model of the same inputs is cached
    fail_fast: bool = False  # ROLLOUT_FAIL_FAST=1: a cell's first failed stage skips every later one
    # the environment processes inherit (read-only copy): proxies, PATH, JAVA_HOME, ...
    environ: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> Settings:
        environ = dict(os.environ if environ is None else environ)
        results = Path(environ.get("ROLLOUT_RESULTS") or paths.ROOT / "results")
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        run_dir = Path(environ.get("ROLLOUT_RUN_DIR") or results / "runs" / f"{stamp}-{os.getpid()}")
        return cls(
            results=results,
            run_dir=run_dir,
            versions_file=paths.VERSIONS_FILE,
            versions_override=Path(environ.get("ROLLOUT_VERSIONS_OVERRIDE") or paths.ENVS / "versions.local.yaml"),
            env_backend=(environ.get("ENV_BACKEND") or "auto").strip().lower() or "auto",
            timeouts=Timeouts(
                train=_positive(environ, "ROLLOUT_TRAIN_TIMEOUT", Timeouts.train),
                serve=_positive(environ, "ROLLOUT_SERVE_TIMEOUT", Timeouts.serve),
                tracking=_positive(environ, "ROLLOUT_TRACKING_TIMEOUT", Timeouts.tracking),
                model_env=_positive(environ, "ROLLOUT_MODEL_ENV_TIMEOUT", Timeouts.model_env),
            ),
            speed=SpeedLimits(
                p95_ratio=_positive(environ, "ROLLOUT_SPEED_P95_RATIO", SpeedLimits.p95_ratio),
                p95_min_ms=_positive(environ, "ROLLOUT_SPEED_P95_MIN_MS", SpeedLimits.p95_min_ms),
                validate_seconds=_positive(environ, "ROLLOUT_SPEED_SECONDS", SpeedLimits.validate_seconds),
                validate_requests=_count(environ, "ROLLOUT_SPEED_REQUESTS"),
                repeats=_count(environ, "ROLLOUT_SPEED_REPEATS") or SpeedLimits.repeats,
                workers=_count(environ, "ROLLOUT_SPEED_WORKERS") or SpeedLimits.workers,
                quiet_wait=_positive(environ, "ROLLOUT_SPEED_QUIET_WAIT", SpeedLimits.quiet_wait, zero=True),
            ),
            production_file=Path(environ.get("ROLLOUT_PRODUCTION") or paths.ENVS / "production.yaml").absolute(),
            from_label=environ.get("ROLLOUT_FROM") or None,
            store_size=environ.get("ROLLOUT_STORE_SIZE") or "default",
            postgres_url=_postgres_url(environ),
            mysql_url=_mysql_url(environ),
            store_copy=_store_copy(environ),
            models_from=environ.get("ROLLOUT_MODELS_FROM") or None,
            extra_usecases=_extra_usecases(environ),
            retrain=_flag(environ, "ROLLOUT_RETRAIN"),
            fail_fast=_flag(environ, "ROLLOUT_FAIL_FAST"),
            environ=MappingProxyType(environ),
        )

    @property
    def cache(self) -> Path:
        """Environments mlflow itself builds for logged models (reused while their requirements match)."""
        return paths.ROOT / ".cache"

    @property
    def model_cache(self) -> Path:
        """Trained models kept by their inputs (stores/trained.py), beside the runs: git-ignored."""
        return self.results / paths.MODEL_CACHE_DIR

    def process_environ(self) -> dict[str, str]:
        """What processes of a run start from; the run folder is named so leftovers can be traced.
        The tool's own environment is left out: nox sets UV_PYTHON and UV_PROJECT_ENVIRONMENT to it,
        and any `uv` a cell runs (mlflow's uv env manager) would install into the tool instead. Bytecode
        is written (NO_BYTECODE)."""
        inherited = {k: v for k, v in self.environ.items() if k not in (*TOOL_ENVIRONMENT, NO_BYTECODE)}
        return {**inherited, "ROLLOUT_RUN_DIR": str(self.run_dir)}


def _extra_usecases(environ: Mapping[str, str]) -> tuple[Path, ...]:
    """The folders of ROLLOUT_EXTRA_USECASES; each must hold a usecases/ folder (paths.py reads them)."""
    given = environ.get(paths.EXTRA_USECASES, "")
    folders = tuple((paths.ROOT / part).resolve() for part in given.split(os.pathsep) if part.strip())
    for folder in folders:
        if not (folder / "usecases").is_dir():
            raise SettingsError(f"{paths.EXTRA_USECASES}: {folder} has no usecases/ folder (expected usecases/, "
                                "probes/, envs/ as in the repository, e.g. examples/teams)")  # fmt: skip
    return folders


def _postgres_url(environ: Mapping[str, str]) -> str | None:
    raw = environ.get("ROLLOUT_POSTGRES_URL") or None
    if raw and not raw.startswith(("postgresql://", "postgres://")):
        raise SettingsError(f"ROLLOUT_POSTGRES_URL must be a postgresql:// URL, not {raw.split(':')[0]!r}")
    return raw


MYSQL_SCHEMES = ("mysql://", "mysql+pymysql://", "mariadb://")  # what a MySQL store's URL starts with


def _refuse_mysql_password(name: str, raw: str, hint: str = "") -> None:
    """PyMySQL reads no password from the environment: one in a MySQL URL would be written into every command."""
    if urlsplit(raw).password:
        raise SettingsError(f"{name} must not carry a password for MySQL: mlflow's PyMySQL driver reads none from "
                            "the environment, so it would be written into every command; let the account in "
                            f"from this machine without one{hint}")  # fmt: skip


def _mysql_url(environ: Mapping[str, str]) -> str | None:
    raw = environ.get("ROLLOUT_MYSQL_URL") or None
    if raw and not raw.startswith(MYSQL_SCHEMES):
        raise SettingsError(f"ROLLOUT_MYSQL_URL must be a mysql:// URL, not {raw.split(':')[0]!r}")
    if raw:
        _refuse_mysql_password("ROLLOUT_MYSQL_URL", raw, ", or leave it unset for a private MariaDB")
    return raw


def _store_copy(environ: Mapping[str, str]) -> str | None:
    raw = environ.get("ROLLOUT_STORE_COPY") or None
    if raw and raw.startswith(MYSQL_SCHEMES):
        _refuse_mysql_password("ROLLOUT_STORE_COPY", raw)
    return raw


def _count(environ: Mapping[str, str], name: str) -> int | None:
    """A positive whole number from `name`, else None."""
    raw = environ.get(name)
    if not raw:
        return None
    if not raw.strip().isdigit() or int(raw) <= 0:
        raise SettingsError(f"{name}={raw!r} must be a positive whole number")
    return int(raw)


def _flag(environ: Mapping[str, str], name: str) -> bool:
    """A yes/no setting: `1`, `true` or `yes` (any case) is yes; anything else, or unset, no."""
    return (environ.get(name) or "").strip().lower() in ("1", "true", "yes")


def _positive(environ: Mapping[str, str], name: str, default: float, zero: bool = False) -> float:
    """A positive number (seconds, a ratio, milliseconds) from `name` (0 too when `zero`), else `default`."""
    raw = environ.get(name)
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise SettingsError(f"{name}={raw!r} is not a number") from None
    if value < 0 or (value == 0 and not zero):
        raise SettingsError(f"{name}={raw!r} must be {'zero or ' if zero else ''}positive")
    return value
