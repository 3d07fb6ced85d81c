"""The answer: a run's cells turned into a rollout decision, its findings, and the proof of each remedy.

    BAD INPUT        a file of the repository a cell read is unreadable or incomplete: nothing was decided
    NO-GO            a cell failed or never reported, or a finding has no proven remedy and nobody accepted it
    GO WITH ACTIONS  every finding has a remedy proven in this run (or is accepted in envs/rollout.yaml); a
                     check that could not run (not checked: production fails there today, the machine lacks a
                     server) is listed to do elsewhere, never evidence for GO and never a verdict of its own
    GO               no finding at all, and every check ran

A finding is every known break seen (XFAIL), every break of production's own models (models cells:
XFAIL, nobody writes those down in advance), every XPASS (an expectation file out of date) and every
speed regression written down as known. Its id is stable: made of what broke and where (kind, labels,
use case or store kind, stage, request), never of times, paths or the line seen, so the same break on
the next run has the same id and a team can accept it by that id.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from pathlib import Path

from rolloutcheck.core import versionmatch
from rolloutcheck.core.atomic import write_atomic
from rolloutcheck.inputs.acceptances import Acceptance
from rolloutcheck.inputs.registry import Label
from rolloutcheck.inputs.stores import StorePin
from rolloutcheck.probes import loadtest
from rolloutcheck.reports import remedies
from rolloutcheck.spec import breaks, kinds
from rolloutcheck.spec import findings as findings_
from rolloutcheck.spec.results import FINDING, KNOWN_BREAK, PASS, XFAIL, XPASS, CellResult, StageResult
from rolloutcheck.stores import downtime

DECISION_JSON, DECISION_MD = "decision.json", "decision.md"
BROKE = (KNOWN_BREAK, FINDING, breaks.UNWRITTEN)  # an XFAIL stage or request whose reason starts so is a finding
MODELS_NOT_CHECKED = (
    "production's own models were not checked: ROLLOUT_MODELS_FROM is not set "
    "(name a copy of production's tracking store to serve its registered models on the new label)"
)
NOT_RUN = "not run:"  # an XFAIL stage after a break in its branch: it did not run (runner.py)


class Verdict(StrEnum):
    GO = "GO"
    GO_WITH_ACTIONS = "GO WITH ACTIONS"
    NO_GO = "NO-GO"
    BAD_INPUT = "BAD INPUT"


# 10, not 3: nox itself exits 3 for a session it does not know (a typo of the label), 2 for a broken noxfile
EXIT_CODES = {Verdict.GO: 0, Verdict.NO_GO: 1, Verdict.BAD_INPUT: 2, Verdict.GO_WITH_ACTIONS: 10}  # docs: README

# the kinds' titles, as findings carry them (declared once in spec/findings.py)
CLIENT_REQUEST, RETRAIN, ORDER = findings_.CLIENT_REQUEST.title, findings_.RETRAIN.title, findings_.ORDER.title
DATA_REPAIR, CONFIGURATION, REQUIREMENT = (findings_.DATA_REPAIR.title, findings_.CONFIGURATION.title,
                                           findings_.REQUIREMENT.title)  # fmt: skip
UNWRITTEN, OUT_OF_DATE = findings_.UNWRITTEN.title, findings_.OUT_OF_DATE.title


@dataclass
class Finding:
    """One action of the decision: every break of the same kind and remedy, in every cell it was seen."""

    id: str
    kind: str  # its title (spec/findings.py)
    cell: str  # the first cell's title
    stage: str
    seen: str  # what broke, as the stage or probe said it (the first cell's)
    hits: list[str]  # whom it hits: use cases, stored client requests, store kinds, models
    remedy: str  # the action the rollout needs
    proof: str | None  # the evidence that the remedy works here; None: not proven
    evidence: list[str] = field(default_factory=list)  # log files and cell folders to read
    accepted: dict | None = None  # by, why, until: a team's acceptance
    note: str = ""  # e.g. an acceptance that lapsed
    cells: list[str] = field(default_factory=list)  # every cell it was seen in
    members: list[str] = field(default_factory=list)  # the id of each break in each cell (an acceptance may name one)
    former: list[str] = field(default_factory=list)  # ids earlier versions gave these breaks (stale acceptances)

    @property
    def blocking(self) -> bool:
        return self.proof is None and self.accepted is None


@dataclass
class Decision:
    verdict: Verdict
    labels: list[str]
    cells: int
    passed: int
    failures: list[dict]  # cells that failed or never reported: cell, stage, reason, log
    findings: list[Finding]
    stale: list[dict]  # acceptances that match no finding
    changed: dict = field(default_factory=dict)  # since the previous decision of the same labels
    not_on_production: list[dict] = field(default_factory=list)  # cells that fail because production does today
    not_checked: list[dict] = field(default_factory=list)  # checks that could not run at all, and why: never GO
    bad_input: list[dict] = field(default_factory=list)  # cells that failed on a file of the repository: BAD INPUT
    not_run: list[dict] = field(default_factory=list)  # checks that did not run, and why: never evidence for GO
    notes: list[str] = field(default_factory=list)  # what the decision did not look at
    speed: list[dict] = field(default_factory=list)  # production's server against every path measured (speed_rows)
    production: str = ""  # the production it answers for (envs/production.yaml), as the title names it
    partial: dict = field(default_factory=dict)  # needed, held, missing: a run without every cell of the rollout

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self.verdict]

    def to_json(self) -> str:
        raw = asdict(self) | {"exit_code": self.exit_code}
        for raw_finding, finding in zip(raw["findings"], self.findings, strict=True):
            raw_finding["blocking"] = finding.blocking
        return json.dumps(raw, indent=2, default=str)


def finding_id(*parts: str | None) -> str:
    return "F-" + hashlib.sha256("|".join(p or "" for p in parts).encode()).hexdigest()[:10]


def _former_id(seen: remedies.Seen) -> str:
    """The id the decision gave this break before breaks were told apart by what was seen (stale acceptances
    of those ids name their successor)."""
    cell, title = seen.cell, findings_.FINDING_KINDS[seen.kind].title
    if seen.probe is not None:
        return finding_id(title, cell.kind, cell.label, cell.usecase, seen.probe.name)
    return finding_id(title, cell.kind, cell.label, cell.usecase, cell.from_label, seen.stage_name)


def _stage_kind(cell: CellResult, stage: StageResult, entry: dict | None) -> str:
    if entry is not None:
        return entry.get("kind") or findings_.KNOWN.key
    if stage.reason.startswith(FINDING):  # production's own model: nobody wrote it down, retrain or pins
        return remedies.DEFAULT_KINDS.get(stage.stage, findings_.RETRAIN.key)
    return findings_.UNWRITTEN.key


def seen_in(cell: CellResult) -> Iterable[remedies.Seen]:
    """Every break a cell saw: a stored request's own (XFAIL, XPASS), a stage's (XFAIL: each written-down
    break it matched, or one nobody wrote down; XPASS: an entry out of date)."""
    stage_broken = any(s.status == XFAIL and s.reason.startswith(BROKE) for s in cell.stages)
    for probe in cell.probes:
        if probe.status not in (XFAIL, XPASS) or (stage_broken and probe.reason.startswith(BROKE)):
            continue  # the runner turned it XFAIL with its stage's known break: the stage's finding covers it
        if probe.status == XPASS:
            yield remedies.Seen(findings_.OUT_OF_DATE.key, cell, None, probe, probe.reason, probe.known)
        else:
            kind = (probe.known or {}).get("kind") or findings_.CLIENT_REQUEST.key
            yield remedies.Seen(kind, cell, None, probe, probe.reason, probe.known)
    move = cell.upgrade.get("python_move")
    if move and cell.kind == "validate":  # its lock wants a newer Python: the move is the finding (pythonmove.py)
        lock = next((s for s in cell.stages if s.stage == "lock"), None)
        yield remedies.Seen(findings_.PYTHON_MOVE.key, cell, lock, None, lock.reason if lock else "?", None)
    for stage in cell.stages:
        if stage.status == XPASS:
            yield remedies.Seen(findings_.OUT_OF_DATE.key, cell, stage, None, stage.reason, None)
        elif stage.status == XFAIL and not stage.reason.startswith(NOT_RUN):
            found = stage.details.get("breaks") or [{"seen": stage.reason, "entry": None}]
            for one in found:
                entry = one.get("entry")
                yield remedies.Seen(_stage_kind(cell, stage, entry), cell, stage, None, one.get("seen", ""), entry)


def findings(cells: Sequence[CellResult]) -> list[Finding]:
    """One finding per remedy: the breaks of every cell grouped by kind, label and the prover's group."""
    by_key = {(c.kind, c.label, c.usecase): c for c in cells}
    groups: dict[tuple[str, str, str], list[tuple[remedies.Seen, remedies.Remedy]]] = {}
    for cell in cells:
        if cell.problem:
            continue
        for seen in seen_in(cell):
            remedy = remedies.PROVERS[seen.kind](seen, by_key)
            groups.setdefault((seen.kind, cell.label, remedy.group), []).append((seen, remedy))
    return [_merged(key, members) for key, members in groups.items()]


def _parts(action: str) -> list[str]:
    """An action's parts: split at "; " outside brackets (a speed figure or a reason holds its own "; ")."""
    parts, depth, start = [], 0, 0
    for i, char in enumerate(action):
        depth += {"(": 1, ")": -1}.get(char, 0)
        if depth == 0 and action.startswith("; ", i):
            parts.append(action[start:i])
            start = i + 2
    return [*parts, action[start:]]


def _joined(actions: list[str]) -> str:
    """One action's text out of its members': every distinct part once, in the order first said."""
    return "; ".join(dict.fromkeys(part for action in actions for part in _parts(action) if part))


def _merged(key: tuple[str, str, str], members: list[tuple[remedies.Seen, remedies.Remedy]]) -> Finding:
    kind, label, group = key
    first, first_remedy = members[0]
    actions = list(dict.fromkeys(r.action for _, r in members))
    proofs = [r.proof for _, r in members]
    unproven = [s.cell.title for s, r in members if r.proof is None]
    proof = "; ".join(dict.fromkeys(p for p in proofs if p)) if not unproven else None
    action = _joined(actions)
    if unproven and len(members) > 1 and any(proofs):
        action += f" (not proven for {', '.join(dict.fromkeys(unproven))})"
    return Finding(
        id=finding_id(kind, label, group),
        kind=findings_.FINDING_KINDS[kind].title,
        cell=first.cell.title,
        stage=", ".join(dict.fromkeys(s.stage_name for s, _ in members)),
        seen=first.line,
        hits=list(dict.fromkeys(h for _, r in members for h in r.hits)),
        remedy=action,
        proof=proof,
        evidence=list(dict.fromkeys(e for _, r in members for e in r.evidence)),
        cells=list(dict.fromkeys(s.cell.title for s, _ in members)),
        members=list(dict.fromkeys(
            finding_id(kind, s.cell.kind, s.cell.label, s.usecase, s.cell.from_label, s.stage_name, s.what)
            for s, _ in members)),
        former=list(dict.fromkeys(_former_id(s) for s, _ in members)),
    )  # fmt: skip


def requirement_findings(cells: Sequence[CellResult], labels: Mapping[str, Label]) -> Iterable[Finding]:
    """Every pin the tool itself adds so that a label works (envs/versions.yaml `requirements:` and
    `constraints:`) is one the team must add to its own environments: a finding of that label,
    proven when every validate cell of the label passed with it."""
    for name in sorted({c.label for c in cells if c.label in labels}):
        label = labels[name]
        validate = [c for c in cells if c.kind == "validate" and c.label == name]
        passed = validate and all(c.status == PASS for c in validate)
        for how, pins in (("install", label.requirements), ("constrain", label.constraints)):
            for pin in pins:
                why = label.reasons.get(pin, "no reason recorded in envs/versions.yaml")
                yield Finding(
                    finding_id(REQUIREMENT, name, pin), REQUIREMENT, f"label {name}", "env",
                    f"the tool adds `{pin}` ({how}) so that mlflow {name} works: {why}",
                    [c.usecase for c in validate] or [name],
                    f"{how} `{pin}` in every environment that runs mlflow {name} (envs/versions.yaml)",
                    f"sufficient: the {len(validate)} validate cell(s) of {name} passed with it (that it is needed is "
                    "the reason written down; no cell without it ran)" if passed else None,
                    [c.cell_dir for c in validate],
                )  # fmt: skip


def model_env_findings(cells: Sequence[CellResult]) -> Iterable[Finding]:
    """Per label: the old models whose rebuilt environment got another mlflow than the label (their logged
    requirements name `mlflow` unpinned, so the index of the day decides). The label itself was checked on
    the same rebuild with `mlflow==<label>` pinned (cells/stages/upgrade/oldmodel.py): that run proves the
    pin; the unpinned rebuild shows it is needed."""
    by_label: dict[str, list[CellResult]] = {}
    for cell in cells:
        if (cell.upgrade.get("model_env") or {}).get("unpinned"):
            by_label.setdefault(cell.label, []).append(cell)
    for label, hit in by_label.items():
        first = hit[0].upgrade["model_env"]
        pin, got = first["unpinned"]["pin"], first["unpinned"].get("mlflow", "?")
        served = [c for c in hit if {s.stage: s.status for s in c.stages}.get("model-env-serve") in (PASS, XFAIL)]
        names = [(c.upgrade.get("model") or {}).get("shown") or c.usecase for c in hit]
        probes = "; ".join(f"{c.usecase}: model-env-probe {s.status}" for c in served for s in c.stages
                           if s.stage == "model-env-probe")  # fmt: skip
        yield Finding(
            finding_id(REQUIREMENT, "model-env mlflow", label), REQUIREMENT, hit[0].title, "model-env-serve",
            f"{findings_.unpinned_mlflow(got, first.get('mlflow', '?'))} (models logged by {hit[0].from_label})", names,
            f"pin `{pin}` in the requirements of every model served with `--env-manager` on {label} (or serve "
            "them with `--env-manager local`): without it each rebuild takes the newest mlflow on the index",
            (f"the same rebuild with `{pin}` pinned held mlflow {first.get('mlflow')} and served ({probes}); "
             f"without the pin it got mlflow {got}") if len(served) == len(hit) else None,
            [c.cell_dir for c in hit], cells=[c.title for c in hit],
        )  # fmt: skip


def store_pin_findings(cells: Sequence[CellResult], pins: Sequence[StorePin]) -> tuple[list[Finding], list[str]]:
    """The drivers and pins the store check adds (envs/stores.yaml) for the *to* label's mlflow: every
    environment that opens a tracking store on that label needs them too. Only the store kinds a pin is
    `for:` are its evidence; where a cell left it out (cells/stages/store/absence.py), failing without it
    proves it needed and passing without it makes it "not needed for <label>" (a note, no action).
    Returns (findings, notes)."""
    found, notes = [], []
    for name in sorted({c.label for c in cells if c.kind == "store-upgrade"}):
        checks = [c for c in cells if c.kind == "store-upgrade" and c.label == name]
        version = next((c.mlflow_version for c in checks if c.mlflow_version), None)
        if version is None:
            continue
        for pin in pins:
            if pin.specifier and not versionmatch.matches(pin.specifier, version):
                continue
            shown = [c for c in checks if pin.applies_to(c.usecase)]
            if not shown:
                notes.append(f"`{pin.pin}` of envs/stores.yaml for {name} was not checked: no "
                             f"{'/'.join(pin.stores)} store cell in this run")  # fmt: skip
                continue
            absent = [o for c in shown for o in c.upgrade.get("absence", []) if o.get("pin") == pin.pin]
            needed = [o for o in absent if o.get("outcome") == "needed"]
            if absent and not needed and all(o.get("outcome") == "not needed" for o in absent):
                notes.append(f"`{pin.pin}` is not needed for {name}: {absent[0]['reason']} (proven by absence in "
                             f"the {absent[0]['store']} store cell)")  # fmt: skip
                continue
            kinds = ", ".join(c.usecase for c in shown)
            passed = all(c.status == PASS for c in shown)
            if needed:
                proof = (f"needed: {needed[0]['reason']} ({needed[0].get('without', '?')}); with it the "
                         f"{kinds} store cell(s) of {name} passed")  # fmt: skip
            else:
                proof = (f"sufficient: the {kinds} store cell(s) of {name} passed with it (that it is needed is not "
                         "shown: no check without it ran)")  # fmt: skip
            found.append(Finding(
                finding_id(REQUIREMENT, "stores", name, pin.pin), REQUIREMENT, f"store checks of {name}", "env",
                f"the store check adds `{pin.pin}` for mlflow {version}: {pin.why or 'no reason in envs/stores.yaml'}",
                [c.usecase for c in shown],
                f"install `{pin.pin}` in every environment that opens a {kinds} tracking store with mlflow {name}",
                proof if passed else None, [c.cell_dir for c in shown] + [o["log"] for o in needed if o.get("log")],
            ))  # fmt: skip
    return found, notes


SPEED = findings_.SPEED.title
DOWNTIME = findings_.DOWNTIME.title


def downtime_findings(cells: Sequence[CellResult], bench: Callable[[str, str], dict | None]) -> list[Finding]:
    """Per label and store kind: how long the store's move kept it closed in its store cell (a copy of
    production's store when one was given): `mlflow db upgrade` for a database, `mlflow migrate-filestore`
    for a file store; where `nox -s bench-store` timed a database's move at three sizes (`bench(from, to)`),
    the fit's estimate at the cell's size and at 10^6 and 10^7 metric rows. Measured figures only. An action
    to plan, proven by the measurement; never blocking."""
    found = []
    for cell in cells:
        migration = cell.upgrade.get("migration")
        if cell.kind != "store-upgrade" or cell.status != PASS or not migration:
            continue
        compared = cell.upgrade.get("compared", {})
        points = compared.get("metric points")
        counted = [f"{compared[key]} {name}" for key, name in (("runs", "runs"), ("metric points", "metric rows"))
                   if isinstance(compared.get(key), int)]  # fmt: skip
        source = cell.from_label or "?"
        store = "the copy of production" if cell.upgrade.get("copy_of") else "the generated store"
        measured = f"{migration['seconds']:.1f} s" + (f" for {' / '.join(counted)}" if counted else "") + f" in {store}"
        filestore = cell.usecase == "filestore"
        command = "mlflow migrate-filestore" if filestore else "mlflow db upgrade"
        timed = {} if filestore else (bench(source, cell.label) or {}).get("kinds", {}).get(cell.usecase) or {}
        fitted = timed.get("fit")
        if fitted:
            fit = downtime.Fit(**fitted)
            at = {n: fit.at(n) for n in (10**6, 10**7)}
            size = (f"about {downtime.shown(at[10**6])} for 10^6 and {downtime.shown(at[10**7])} for 10^7 metric "
                    f"rows ({fitted['per_million_s']} s per 10^6 rows, growth x^{fitted['growth']}, "
                    "nox -s bench-store)")  # fmt: skip
            if cell.upgrade.get("copy_of") and isinstance(points, int):  # production's own size, by the fit
                size += f"; the fit for the copy's {points} metric rows: about {downtime.shown(fit.at(points))}"
        elif filestore:
            size = "its writers stopped while it runs (it copies the mlruns/ tree into a database)"
        else:
            size = "at production's size: run `nox -s bench-store` (10^4..10^6 metric rows, fitted)"
        what = "the move of" if filestore else "a tracking-server downtime for `mlflow db upgrade` of"
        stage = "migrate" if filestore else "db-upgrade"
        found.append(Finding(
            finding_id(DOWNTIME, cell.label, cell.usecase), DOWNTIME, cell.title, stage,
            f"`{command}` {source} -> {cell.label} ({cell.usecase}) needs the store closed to writers", [cell.usecase],
            f"plan {what} the {cell.usecase} store on {cell.label}"
            + (f" (`{command}`)" if filestore else "") + f": {size}; measured: {measured}",
            f"timed in the store cell ({measured})" + (f"; fitted over {len(timed['points'])} sizes" if fitted else ""),
            [cell.cell_dir],
        ))  # fmt: skip
    return found


def speed_rows(cells: Sequence[CellResult]) -> list[dict]:
    """The speed table: every path an upgrade or models cell timed against production's server."""
    rows = []
    for cell in cells:
        for row in cell.upgrade.get("speed", []):
            model = (cell.upgrade.get("model") or {}).get("shown")
            where = {"cell": cell.title, "cell_dir": cell.cell_dir, "label": cell.label, "from_label": cell.from_label}
            rows.append(row | where | {"usecase": model or row.get("usecase") or cell.usecase})
    return rows


def speed_findings(rows: Sequence[dict]) -> tuple[list[Finding], list[str]]:
    """A slower path (every repeat agreeing) or one that could not be measured is a finding of its use case
    and path, its remedy the `--workers` server the speed check measured within the rule; an inconclusive
    one is a note. Returns (findings, notes)."""
    groups: dict[tuple[str, str, str], list[dict]] = {}
    notes = []
    for row in rows:
        if row["verdict"] in (loadtest.REGRESSION, loadtest.NOT_MEASURED):
            groups.setdefault((row["label"], row["usecase"], row["path"]), []).append(row)
        elif row["verdict"] == loadtest.INCONCLUSIVE:
            notes.append(
                f"speed of {row['usecase']} ({row['path']}, {row['request']}) on {row['label']} is "
                f"inconclusive, not blocking: {row['text']} (to measure longer: ROLLOUT_SPEED_SECONDS)"
            )
    found = []
    for (label, usecase, path), members in groups.items():
        first = members[0]
        seen = "; ".join(f"{r['request']}: {r['text']}" for r in members)
        remedy = first.get("remedy") or {}
        other = _within_rule(rows, label, usecase, path)
        if first["verdict"] == loadtest.NOT_MEASURED:
            action, proof = f"find why the {label} server of {usecase} ({path}) failed under load: {seen}", None
        elif remedy.get("outcome") == "proven":
            action = f"serve {usecase} on {label} ({path}) with `{remedy['command']}`"
            proof = f"with {remedy['workers']} workers, against production's server: {remedy['reason']}"
        elif other:
            tried = f" (`{remedy['command']}`: {remedy['outcome']})" if remedy else ""
            action = (f"take the {other[0]['path']} path for {usecase} on {label}, not {path}: {path} is slower "
                      f"than production{tried}")  # fmt: skip
            proof = "; ".join(f"{r['path']} {r['request']}: {r['text']} (within the rule)" for r in other)
        else:
            tried = f"; `{remedy['command']}`: {remedy['outcome']} ({remedy.get('reason', '')[:300]})" if remedy else ""
            action, proof = f"{usecase} ({path}) is slower on {label}{tried}; size the serving fleet or accept it", None
        # slower and not measured are two causes: an acceptance of one is not of the other
        cause = () if first["verdict"] == loadtest.REGRESSION else (first["verdict"],)
        found.append(Finding(
            finding_id(SPEED, label, usecase, path, *cause), SPEED, first["cell"], "speed", seen,
            [f"{usecase} ({path})"], action, proof, list(dict.fromkeys(r["cell_dir"] for r in members)),
            cells=list(dict.fromkeys(r["cell"] for r in members)),
        ))  # fmt: skip
    return found, notes


def _within_rule(rows: Sequence[dict], label: str, usecase: str, slower: str) -> list[dict]:
    """The other paths of the same use case and label that answered and were measured within the rule
    for every request: each is a way to the new label that keeps production's speed (a proven remedy)."""
    paths: dict[str, list[dict]] = {}
    for row in rows:
        if row["label"] == label and row["usecase"] == usecase and row["path"] != slower:
            paths.setdefault(row["path"], []).append(row)
    fast = [p for p, members in paths.items() if all(r["verdict"] == loadtest.NO_REGRESSION for r in members)]
    return [r for r in rows if r["label"] == label and r["usecase"] == usecase and r["path"] in fast[:1]]


def _production_failures(cells: Sequence[CellResult], production: str | None) -> dict[str, StageResult]:
    """Use case -> how its validate cell on production's label fails: what the rollout cannot have broken."""
    found = {}
    for cell in cells:
        if cell.kind == "validate" and cell.label == production and cell.status != PASS:
            failure = cell.failure()
            if failure is not None:
                found[cell.usecase] = failure
    return found


def _already_broken(
    cell: CellResult, failure: StageResult, production: str | None, broken: Mapping[str, StageResult]
) -> str | None:
    """Why a failed validate cell is production's own failure, not the rollout's (None: it is the rollout's)."""
    known = broken.get(cell.usecase)
    if known is None or cell.kind != "validate":
        return None
    if cell.label == production:
        return f"does not run on production ({production}) today"
    same = failure.stage == known.stage and breaks.same_line(failure.reason, known.reason)  # not only alike
    return f"already broken on production ({production}) the same way" if same else None


def _not_checked(
    cell: CellResult, failure: StageResult, production: str | None, broken: Mapping[str, StageResult]
) -> str | None:
    """Why a failed upgrade, store or models cell is a check that could not run at all (None: it ran and
    failed): the cell said so (NotChecked), or it stopped on production's side where production's own
    validate cell of that use case fails today. Never the rollout's failure, never evidence for GO."""
    if failure.not_checked:
        return failure.not_checked
    usecase = cell.upgrade.get("usecase", cell.usecase) if cell.kind == "store-upgrade" else cell.usecase
    known = broken.get(usecase)
    on_production_side = failure.stage.startswith("from-") or failure.stage == "config"
    if known is not None and cell.kind != "validate" and cell.from_label == production and on_production_side:
        return f"{usecase} does not run on production ({production}) today: {known.stage} - {known.reason[:200]}"
    return None


def rollout_labels(cells: Sequence[CellResult], production: str | None) -> list[str]:
    """The labels a run rolls out to: its cells' labels, production's left out when it is only there as
    the reference (its validate cells beside another label's)."""
    found = {c.label for c in cells}
    return sorted(found - {production} if found - {production} else found)


def _after_trunk_break(cells: Sequence[CellResult]) -> list[dict]:
    """Cells whose checks stopped at a known break on their trunk (a stage outside every branch: `from-train`,
    `check-upgrade`, `migrate`, `rollback`): everything after it did not run, so one written-down line could
    skip a whole migration. Each is a failure of the rollout (it blocks), naming what did not run."""
    found = []
    for cell in cells:
        steps = {s.name: s for s in kinds.KINDS[cell.kind].steps(cell.usecase)} if cell.kind in kinds.KINDS else {}
        skipped = [s for s in cell.stages if s.status == XFAIL and s.reason.startswith(NOT_RUN)]
        trunk = [s for s in skipped if (step := steps.get(s.details.get("after", ""))) and step.branch is None]
        if trunk:
            after = trunk[0].details["after"]
            broke = next((s for s in cell.stages if s.stage == after), None)
            why = (f"{len(trunk)} stage(s) did not run after the known break at {after}, outside every branch "
                   f"({', '.join(s.stage for s in trunk)}): not checked, so it blocks")  # fmt: skip
            log = (broke.log if broke else None) or cell.cell_dir
            found.append({"cell": cell.title, "stage": after, "reason": why, "log": log})
    return found


def _not_run(cells: Sequence[CellResult]) -> list[dict]:
    """Every check that did not run in a cell that reported, and why (after a break in its branch)."""
    return [{"cell": c.title, "stage": s.stage, "why": s.reason.removeprefix(NOT_RUN).strip()}
            for c in cells for s in c.stages if s.status == XFAIL and s.reason.startswith(NOT_RUN)]  # fmt: skip


def decide(
    cells: Sequence[CellResult], acceptances: Sequence[Acceptance] = (), today: dt.date | None = None,
    previous: dict | None = None, labels: Mapping[str, Label] | None = None,
    store_pins: Sequence[StorePin] = (), production: str | None = None,
    problems: Sequence[str] = (), notes: Sequence[str] = (),
    bench: Callable[[str, str], dict | None] = lambda source, target: None, declared: str = "",
    needed: Sequence[tuple[str, str, str]] = (),
) -> Decision:  # fmt: skip
    """The decision of a run's cells (the missing ones included as FAIL cells). `problems`: inputs the
    decision needed and could not read (each blocks, one line); `notes`: what it did not look at; `needed`:
    every cell (kind, label, use case or store kind) the rollout of production needs: a run that holds fewer
    is partial, said in its title, never GO."""
    today = today or dt.date.today()
    failures, not_on_production, not_checked, bad_input = [], [], [], []
    broken = _production_failures(cells, production)
    for cell in cells:
        if cell.status != PASS:
            failure = cell.failure()
            row = {"cell": cell.title, "stage": failure.stage, "reason": failure.reason,
                   "log": failure.log or cell.cell_dir}  # fmt: skip
            if failure.bad_input:  # the input's fault, on production's label too: never "does not run there"
                bad_input.append(row | {"file": failure.bad_input})
                continue
            if cell.upgrade.get("python_move") and cell.kind == "validate" and not cell.problem:
                continue  # a finding of its own (the Python move), blocking unless proven
            unchecked = None if cell.problem else _not_checked(cell, failure, production, broken)
            why = None if cell.problem else _already_broken(cell, failure, production, broken)
            if unchecked:
                not_checked.append(row | {"why": unchecked})
            elif why:
                not_on_production.append(row | {"why": why})
            else:
                failures.append(row)
    failures += [{"cell": "decision", "stage": "config", "reason": problem, "log": ""} for problem in problems]
    failures += _after_trunk_break([c for c in cells if not c.problem])
    rolled = rollout_labels(cells, production)
    ours = [c for c in cells if c.kind != "validate" or c.label in rolled]  # production's own cells: a reference
    pinned, pin_notes = store_pin_findings(ours, store_pins)
    speed = speed_rows(ours)
    slower, speed_notes = speed_findings(speed)
    found = [*findings(ours), *requirement_findings(ours, labels or {}), *model_env_findings(ours), *pinned, *slower,
             *downtime_findings(ours, bench)]  # fmt: skip
    by_id = {i: f for f in found for i in (f.id, *f.members)}
    former = {i: f for f in found for i in f.former if i not in by_id}
    stale = []
    for acceptance in acceptances:
        finding = by_id.get(acceptance.id)
        if finding is None:
            successor = former.get(acceptance.id)
            stale.append({"id": acceptance.id, "by": acceptance.by, "why": acceptance.why,
                          **({"successor": successor.id} if successor else {})})  # fmt: skip
        elif acceptance.lapsed(today):
            finding.note = f"accepted by {acceptance.by} until {acceptance.until}: lapsed"
        elif acceptance.id != finding.id and len(finding.members) > 1:  # one break of a merged finding: that one
            others = [m for m in finding.members if m != acceptance.id]
            finding.note = (f"accepted by {acceptance.by} for {acceptance.id} only; not covered: {', '.join(others)} "
                            f"(accept {finding.id} to cover the whole finding)")  # fmt: skip
        else:
            finding.accepted = {"by": acceptance.by, "why": acceptance.why, "until": acceptance.until}
    held = {(c.kind, c.label, c.usecase) for c in cells}
    missing = [key for key in needed if key not in held]
    partial = {"needed": len(needed), "held": len(needed) - len(missing), "missing": [" ".join(k) for k in missing]}
    if bad_input:
        verdict = Verdict.BAD_INPUT
    elif failures or not cells or any(f.blocking for f in found):
        verdict = Verdict.NO_GO
    else:  # what was not checked is never evidence for GO, nor a verdict of its own: it is listed to do
        verdict = Verdict.GO_WITH_ACTIONS if found or not_checked or missing else Verdict.GO
    decision = Decision(
        verdict,
        rolled,
        len(cells),
        sum(c.status == PASS for c in cells),
        failures,
        found,
        stale,
        not_on_production=not_on_production,
        not_checked=not_checked,
        bad_input=bad_input,
        not_run=_not_run(cells),
        notes=[*notes, *pin_notes, *speed_notes],
        speed=speed,
        production=declared,
        partial=partial if missing else {},
    )
    if previous is not None:
        before = {f["id"] for f in previous.get("findings", [])}
        ids = {f.id for f in found}
        decision.changed = {
            "previous": previous.get("run"), "verdict_before": previous.get("verdict"),
            "new": sorted(ids - before), "gone": sorted(before - ids),
        }  # fmt: skip
    return decision


def previous_decision(run: Path, labels: list[str]) -> dict | None:
    """The newest decision of the same labels in another run of the same results folder."""
    candidates = []
    for path in run.parent.glob(f"*/{DECISION_JSON}"):
        if path.parent.resolve() == run.resolve():
            continue
        try:
            raw = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if raw.get("labels") == labels:
            candidates.append((path.stat().st_mtime, raw | {"run": str(path.parent)}))
    return max(candidates, key=lambda c: c[0])[1] if candidates else None


def markdown(decision: Decision) -> str:
    labels = ", ".join(decision.labels) or "no label"
    production = f" for production {decision.production}" if decision.production else ""
    part = decision.partial
    partial = f"; partial: {part['held']} of {part['needed']} cells" if part else ""
    lines = [f"# Rollout decision: **{decision.verdict}** ({labels}){production}{partial}", "",
             f"{decision.passed} of {decision.cells} cells passed; {len(decision.findings)} finding(s), "
             f"{sum(f.blocking for f in decision.findings)} blocking. Exit code {decision.exit_code}.", ""]  # fmt: skip
    if decision.bad_input:
        lines += ["## Bad input: fix these files of the repository, then run again (nothing was decided)", ""]
        lines += [f"- {line}" for line in bad_input_lines(decision)] + [""]
    if part:
        lines += [f"## Not checked: {len(part['missing'])} cell(s) of the rollout this run does not hold (never GO)",
                  "", *[f"- {m}" for m in part["missing"][:40]], *(["- ..."] if len(part["missing"]) > 40 else []),
                  ""]  # fmt: skip
    if decision.not_checked:
        lines += ["## Not checked (the check could not run: never evidence for GO; check it where it can)", ""]
        lines += [
            f"- {f['cell']}: **{f['stage']}** - {f['why'][:300]} ([log]({f['log']}))" for f in decision.not_checked
        ]
        lines.append("")
    if decision.failures:
        lines += ["## Blocking: cells that failed or never reported", ""]
        lines += [f"- {f['cell']}: **{f['stage']}** - {f['reason']} ([log]({f['log']}))" for f in decision.failures]
        lines.append("")
    for title, chosen in (
        ("Blocking: findings without a proven remedy", [f for f in decision.findings if f.blocking]),
        ("Actions the rollout needs (remedy proven here)", [f for f in decision.findings if f.proof]),
        ("Accepted", [f for f in decision.findings if f.accepted and not f.proof]),
    ):
        if chosen:
            lines += [f"## {title}", ""]
            for f in chosen:
                links = ", ".join(f"[{Path(e).name}]({e})" for e in f.evidence)
                where = f.cell if len(f.cells) <= 1 else f"{len(f.cells)} cells ({', '.join(f.cells)})"
                lines.append(f"- `{f.id}` **{f.kind}** in {where}, stage {f.stage}: {f.seen}")
                lines.append(f"  - hits: {', '.join(f.hits)}")
                lines.append(f"  - action: {f.remedy}")
                lines.append(f"  - proof: {f.proof or 'not proven in this run'}; evidence: {links}")
                if f.accepted:
                    lines.append(f"  - accepted by {f.accepted['by']}: {f.accepted['why']}")
                if f.note:
                    lines.append(f"  - {f.note}")
            lines.append("")
    if decision.speed:
        lines += ["## Speed after the rollout: production's server against each path (p95, interleaved)", "",
                  "| use case | path | request | from -> to | p95 from -> to | ratio (repeats) | verdict |",
                  "|---|---|---|---|---|---|---|"]  # fmt: skip
        lines += [speed_line(r) for r in decision.speed]
        lines.append("")
    if decision.not_on_production:
        lines += ["## Does not run on production today (not blocking: the rollout did not break it)", ""]
        lines += [f"- {f['cell']}: **{f['stage']}** - {f['reason'][:300]} ({f['why']}; [log]({f['log']}))"
                  for f in decision.not_on_production]  # fmt: skip
        lines.append("")
    if decision.not_run:
        lines += ["## Not checked (did not run after a break in its branch; never evidence for GO)", ""]
        lines += [f"- {n['cell']}: {n['stage']} ({n['why']})" for n in decision.not_run]
        lines.append("")
    if decision.notes:
        lines += ["## Not looked at", ""] + [f"- {n}" for n in decision.notes] + [""]
    if decision.stale:
        lines += ["## Stale acceptances (envs/rollout.yaml names no finding of this run)", ""]
        lines += [f"- `{s['id']}` by {s['by']}: {s['why']}" + (f" (its break is now `{s['successor']}`)"
                  if s.get("successor") else "") for s in decision.stale]  # fmt: skip
        lines.append("")
    if decision.changed:
        c = decision.changed
        lines += [
            f"## Changed since {c['previous']}",
            "",
            f"- verdict before: {c['verdict_before']}",
            f"- new findings: {', '.join(c['new']) or 'none'}",
            f"- gone: {', '.join(c['gone']) or 'none'}",
            "",
        ]
    return "\n".join(lines)


def bad_input_lines(decision: Decision) -> list[str]:
    """One line per bad file: the file and what is wrong with it (the cells that read it, counted)."""
    by_reason: dict[str, list[str]] = {}
    for row in decision.bad_input:
        by_reason.setdefault(row["reason"], []).append(row["cell"])
    return [f"{reason} ({len(cells)} cell(s): {', '.join(cells[:3])}{', ...' if len(cells) > 3 else ''})"
            for reason, cells in by_reason.items()]  # fmt: skip


def speed_line(row: dict) -> str:
    if "from" not in row:  # not measured: no figures, only why
        return (
            f"| {row['usecase']} | {row['path']} | {row['request']} | {row['from_label']} -> {row['label']} | - | - "
            f"| {row['verdict']}: {row['text'][:160]} |"
        )
    rounds = ", ".join(f"{r:.2f}" for r in row.get("rounds") or [] if r is not None)
    remedy = (row.get("remedy") or {}).get("outcome")
    shown = row["verdict"] + (f" (`--workers {row['remedy'].get('workers', '?')}`: {remedy})" if remedy else "")
    if (row.get("machine") or {}).get("alone") is False:  # other stages ran meanwhile (core/quiet.py)
        shown += f"; measured on a busy machine (waited {row['machine']['waited_s']:g} s)"
    return (f"| {row['usecase']} | {row['path']} | {row['request']} | {row['from_label']} -> {row['label']} "
            f"| {row['from']['p95_ms']:.1f} -> {row['to']['p95_ms']:.1f} ms | x{row.get('ratio', 0):.2f} ({rounds}) "
            f"| {shown} |")  # fmt: skip


def write(run: Path, decision: Decision) -> tuple[Path, Path]:
    return write_atomic(run / DECISION_JSON, decision.to_json()), write_atomic(run / DECISION_MD, markdown(decision))
