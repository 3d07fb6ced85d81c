"""Cell kinds and their pipelines, declared once as data: every stage of every kind, in order.

Everything that names stages derives from here: a result's expected stages (spec/results.py),
the stages a written-down known break may cover (inputs/), the store kinds, the reports' columns,
the CI kinds, and the order cells/pipelines.py runs them in. Adding a check is one stage module
under cells/stages/ plus one `Step` line below (docs/howto/add-stage.md).

A step runs on a *side*:
    CELL      a validate cell's only side
    FROM, TO  the *from* / *to* label's environment: logs `from-<stage>.log`, that side's own state
    FROM_ALL, TO_ALL  a stage that works on both sides' results (the old model served by the new
              label, a store written by one label and read by the other): the whole cell's state
    RETRAINED the *to* label's environment training the use case anew, its store beside the *from* one's
A *branch* is a run of stages that depend on each other but not on the rest: a failure or known
break inside skips the rest of that branch only. A step with `finishes_after` starts in the
background at its place and is waited for after the step it names (the tracking check runs beside
the server's start-up).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Side(StrEnum):
    CELL = "cell"
    FROM = "from"
    TO = "to"
    FROM_ALL = "from-all"
    TO_ALL = "to-all"
    RETRAINED = "retrained"


@dataclass(frozen=True)
class Step:
    name: str  # as recorded in cell.json and named in logs/<name>.log
    runs: str  # the stage under rolloutcheck.cells.stages: `module` or `module:attribute`
    side: Side = Side.CELL
    branch: str | None = None
    breakable: bool = False  # a written-down known break may turn its failure into XFAIL
    finishes_after: str | None = None  # started in the background here, waited for once that step has run


@dataclass(frozen=True)
class Kind:
    name: str  # what `nox -s <name>-<label>` runs and the cell's `kind`
    pipelines: dict[str, tuple[Step, ...]]  # variant -> steps; "" when the kind has one pipeline
    parameter: str = "usecase"  # what a cell is parametrized by (store-upgrade: the store kind)
    # a breakable stage's failure nobody wrote down is a finding of the decision (XFAIL, FINDING), not a FAIL:
    # production's own models, whose breaks nobody can write down before the first run
    breaks_are_findings: bool = False

    def steps(self, variant: str = "") -> tuple[Step, ...]:
        """The steps of a variant; an unknown variant has none (its cell fails its config stage)."""
        return self.pipelines.get(variant if variant in self.pipelines else "", ())

    def stages(self, variant: str = "") -> tuple[str, ...]:
        """Every stage name a cell of this kind records, in order: config first."""
        return (CONFIG, *(step.name for step in self.steps(variant)))

    def breakable(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(s.name for steps in self.pipelines.values() for s in steps if s.breakable))

    @property
    def variants(self) -> tuple[str, ...]:
        return tuple(v for v in self.pipelines if v)


CONFIG = "config"  # every kind starts by checking its inputs, before any process runs
S = Step
F, T, FA, TA, RT = Side.FROM, Side.TO, Side.FROM_ALL, Side.TO_ALL, Side.RETRAINED

VALIDATE = Kind(
    "validate",
    {
        "": (
            S("lock", "lock"),
            S("env", "env"),
            S("train", "train"),
            S("tracking", "tracking", finishes_after="serve"),
            S("serve", "serve"),
            S("probe", "probe"),
            S("speed", "speed"),
        )
    },
)

# the old model served by the *to* label: in its own environment, then in the model's rebuilt one
_OLD_MODEL_LOCAL = (
    S("local-serve", "upgrade.oldmodel:Local", TA, branch="local", breakable=True),
    S("local-probe", "upgrade.replay:Local", TA, branch="local", breakable=True),
)
_OLD_MODEL_REBUILT = (
    S("model-env-serve", "upgrade.oldmodel:ModelEnv", TA, branch="model-env", breakable=True),
    S("model-env-probe", "upgrade.replay:ModelEnv", TA, branch="model-env", breakable=True),
    S("pin-remedy", "upgrade.pin", TA, branch="pin"),  # when the old model broke: library pins that work
)

# the use case trained and logged by the *from* label, that model served by the *to* one, two ways
UPGRADE = Kind(
    "upgrade",
    {
        "": (
            S("from-lock", "lock", F),
            S("from-env", "env", F),
            S("from-train", "train", F),
            S("from-tracking", "tracking", F, finishes_after="from-serve"),
            S("from-serve", "serve", F),
            S("to-lock", "lock", T),
            S("to-env", "env", T),
            *_OLD_MODEL_LOCAL,
            # the retrain remedy's path: the use case trained and served by the *to* label, for the speed check
            S("to-train", "train", RT, branch="retrained"),
            S("to-tracking", "tracking", RT, branch="retrained", finishes_after="to-serve"),
            S("to-serve", "serve", RT, branch="retrained"),
            S("speed", "upgrade.speed", TA, branch="speed"),  # production's server against every path up
            *_OLD_MODEL_REBUILT,
        )
    },
)

# a tracking store written by the *from* label, upgraded and read by the *to* label: one cell per store kind
_TRUNK = (S("from-lock", "lock", F), S("from-env", "env", F), S("to-lock", "lock", T), S("to-env", "env", T))
_WRITTEN = (
    S("store", "store.create", FA),
    S("populate", "store.populate", FA),
    S("from-train", "train", F, breakable=True),  # the use case's own model, in the same store
    # production's server on production's label (envs/production.yaml tracking.server): its baseline; what its
    # client writes is in the store before the snapshot every later read is compared with
    S("from-tracking-server", "store.prodserver:FromServer", FA),
    S("from-snapshot", "store.snapshot:Before", FA),
)
# the new label's server with production's command line on the moved store, and production's clients against it
_PRODUCTION_SERVER = (
    S("to-tracking-server", "store.prodserver:ToServer", TA, branch="server", breakable=True),
    S("old-clients", "store.prodserver:OldClients", FA, branch="server", breakable=True),
)
_DATABASE = (
    *_TRUNK,
    *_WRITTEN,
    S("backup", "store.dbupgrade:Backup", TA),
    S("check-upgrade", "store.dbupgrade:CheckUpgrade", TA, breakable=True),
    # the migration and what it left: a failure there (MySQL's DDL is not transactional: a half-migrated
    # schema) skips the rest of the branch only, so the rollback still shows whether the backup restores
    S("db-upgrade", "store.dbupgrade:Upgrade", TA, branch="migration", breakable=True),
    S("to-snapshot", "store.snapshot:After", TA, branch="migration", breakable=True),
    S("schema", "store.dbupgrade:Schema", TA, branch="migration", breakable=True),
    *(S(s.name, s.runs, s.side, "migration", s.breakable) for s in _PRODUCTION_SERVER),  # on the migrated schema
    S("rollback", "store.dbupgrade:Rollback", FA, breakable=True),
)
_SERVED = (  # the *to* label checks the *from* label's run and serves its model from the store (runs:/)
    S("to-tracking", "tracking", T, branch="served", breakable=True),
    S("to-serve", "serve", T, branch="served", breakable=True),
    S("to-probe", "probe", T, branch="served", breakable=True),
    # that model served by both labels with production's own `mlflow models serve` command: the same workers?
    S("from-serve-options", "store.prodserving:FromServeOptions", FA, branch="serving"),
    S("to-serve-options", "store.prodserving:ToServeOptions", TA, branch="serving", breakable=True),
)
STORE_UPGRADE = Kind(
    "store-upgrade",
    {
        "sqlite": _DATABASE,
        "postgresql": _DATABASE,
        "mysql": _DATABASE,
        "filestore": (
            *_TRUNK,
            *_WRITTEN,
            S("to-read", "store.snapshot:DirectRead", TA, branch="direct-read", breakable=True),
            S("migrate", "store.filestore", TA, breakable=True),
            S("migrated-snapshot", "store.snapshot:Migrated", TA, branch="migrated", breakable=True),
            *_PRODUCTION_SERVER,
            S("repair", "store.repair", TA, branch="repair"),  # what the move brought back, deleted again
            *_SERVED,
        ),
        "client": (
            *_TRUNK,
            S("tracking-server", "store.trackserver:NewServer", TA),
            S("from-train", "train", F, breakable=True),
            *_SERVED,
            S("old-server", "store.trackserver:OldServer", FA, branch="new-client"),
            S("new-client", "store.trackserver:NewClient", TA, branch="new-client", breakable=True),
        ),
    },
    parameter="store",
)

# production's own model from a copy of its tracking store: served as production serves it (its logged
# requirements, the *from* label's mlflow), then by the *to* label as an upgrade cell serves its model
MODELS = Kind(
    "models",
    {
        "": (
            S("from-lock", "models.logged", F),
            S("from-env", "env", F),
            S("from-serve", "models.asked:Serve", FA),
            S("from-probe", "models.asked:AsLogged", FA),
            S("to-lock", "models.logged", T),
            S("to-env", "env", T),
            *_OLD_MODEL_LOCAL,
            S("speed", "upgrade.speed", TA, branch="local", breakable=True),  # as is: nothing retrains it here
            *_OLD_MODEL_REBUILT,
        )
    },
    parameter="model",
    breaks_are_findings=True,
)

KINDS: dict[str, Kind] = {kind.name: kind for kind in (VALIDATE, UPGRADE, STORE_UPGRADE, MODELS)}
STORE_KINDS = STORE_UPGRADE.variants  # sqlite, postgresql, mysql, filestore, client


def stages_of(kind: str, variant: str = "") -> tuple[str, ...]:
    """The stages a cell of `kind` records; a kind nobody declared has config only (and fails)."""
    return KINDS[kind].stages(variant) if kind in KINDS else (CONFIG,)
