"""Finding kinds, declared once: what a rollout finding asks for and what in a run proves its remedy.

A written-down known break names its kind (`kind:` in probes/*/upgrade.yaml, envs/stores.yaml and the
`xfail:` of an expectation file); the decision (reports/decision.py) builds the action and looks for its
proof with the prover registered under the same key (reports/remedies.py, checked by a test). A kind
without a way to prove its remedy blocks the rollout unless a team accepts the finding.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FindingKind:
    key: str  # what a known break's `kind:` says
    title: str  # how the decision names it
    remedy: str  # the action
    proven_by: str  # what in the run proves the action works ("" when nothing can: blocking unless accepted)
    writable: bool = True  # a written-down break may name it (the others the decision finds by itself)
    stages: tuple[str, ...] = ()  # the stages a written-down break of this kind may be for (empty: any)

    def fits(self, stage: str) -> bool:
        return not self.stages or stage in self.stages


# Where each remedy can act: a retrain changes the model served, a request change what is sent to it, the
# order of the rollout who talks to whom, a data repair what a store holds. A `kind: retrain` on a database
# migration would be "proven" by an unrelated cell; preflight refuses it (inputs/preflight.py).
_MODEL_SERVED = ("local-serve", "local-probe", "model-env-serve", "model-env-probe", "to-serve", "to-probe")
_PROBES = ("probe", "local-probe", "model-env-probe", "to-probe")
_STORE_READ = ("to-read", "migrated-snapshot", "to-snapshot", "schema")
_STORE_MOVE = ("migrate", "check-upgrade", "db-upgrade", "rollback", "to-tracking", "new-client")
_SERVER = ("to-tracking-server", "old-clients", "to-serve-options")  # production's tracking server as it runs


CLIENT_REQUEST = FindingKind(
    "client-request", "client request change", "the new request for every client sending the old one",
    "the upgrade cell's migrated request: HTTP 200 and the as-logged answers on the new label", stages=_PROBES,
)  # fmt: skip
RETRAIN = FindingKind(
    "retrain", "model retrain", "retrain and re-log the old models on the new label (or the least library pins)",
    "the validate cell of the same use case on the new label passed; pins: the old model answered as logged with "
    "only those pins, each shown necessary", stages=_MODEL_SERVED,
)  # fmt: skip
ORDER = FindingKind(
    "rollout-order", "order of the rollout", "upgrade the tracking server before the clients",
    "the client store cell: old clients to the new server passed", stages=("new-client", "to-tracking", "old-clients"),
)  # fmt: skip
CONFIGURATION = FindingKind(
    "configuration", "configuration change", "the setting or command the written-down break names",
    "the same stage's work done with the setting (recorded by the stage), and the migration path where it ran",
    stages=(*_STORE_READ, *_STORE_MOVE, *_SERVER, *_MODEL_SERVED),
)  # fmt: skip
DATA_REPAIR = FindingKind(
    "data-repair", "data repair", "repair the store after the move (the commands the repair stage ran)",
    "the repair stage: the commands ran and the store then read as written", stages=_STORE_READ,
)  # fmt: skip
SPEED = FindingKind(
    "speed", "speed regression", "serve with the command the speed check proved (more workers), or size the fleet",
    "the same path served with `--workers N`, measured again against production's server, within the rule",
    stages=("speed",),
)  # fmt: skip
PYTHON_MOVE = FindingKind(
    "python-move", "Python move", "the project's Python for the new label (the usecase.yaml line), and retrain",
    "a remedy cell on that Python passed train, tracking, serve and probes", writable=False,
)  # fmt: skip
REQUIREMENT = FindingKind(
    "requirement", "requirement change", "install or constrain the package in every environment of the label",
    "the label's cells passed with it", writable=False,
)  # fmt: skip
OUT_OF_DATE = FindingKind(
    "out-of-date", "expectation out of date", "remove the known break from its file",
    "the stage or request passed", writable=False,
)  # fmt: skip
DOWNTIME = FindingKind(
    "downtime", "tracking-server downtime", "plan a tracking-server downtime of the measured length for `mlflow db "
    "upgrade`", "`mlflow db upgrade` timed on the store cell's database, and at 10^4..10^6 metric rows by "
    "`nox -s bench-store` where it ran (fitted to production's size)", writable=False,
)  # fmt: skip
UNWRITTEN = FindingKind(
    "unwritten", "break not written down", "none known: find the cause, then write it down (with `seen:`)", "",
    writable=False,
)  # fmt: skip
KNOWN = FindingKind("known", "known break", "the reason written down names it", "")

FINDING_KINDS: dict[str, FindingKind] = {
    k.key: k
    for k in (CLIENT_REQUEST, RETRAIN, ORDER, CONFIGURATION, DATA_REPAIR, SPEED, PYTHON_MOVE, REQUIREMENT,
              DOWNTIME, OUT_OF_DATE, UNWRITTEN, KNOWN)
}  # fmt: skip
WRITABLE = tuple(k.key for k in FINDING_KINDS.values() if k.writable)  # what a known break's `kind:` may say


def unpinned_mlflow(got: str, label_mlflow: str) -> str:
    """How a stage and the decision say that a rebuilt model environment did not hold the label's mlflow."""
    return f"the model environment got mlflow {got}, not {label_mlflow}: the model's requirements do not pin it"
