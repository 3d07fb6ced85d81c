"""The answer: a run's cells turned into a rollout decision, its findings, and the proof of each remedy.

    NO-GO            a cell failed or never reported, or a finding has no proven remedy and nobody accepted it
    GO WITH ACTIONS  every finding has a remedy proven in this run (or is accepted in envs/rollout.yaml)
    GO               no finding at all

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
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from pathlib import Path

from rolloutcheck.core import versionmatch
from rolloutcheck.core.atomic import write_atomic
from rolloutcheck.core.errors import shown
from rolloutcheck.inputs.acceptances import Acceptance
from rolloutcheck.inputs.registry import Label
from rolloutcheck.models.results import FINDING, KNOWN_BREAK, PASS, XFAIL, XPASS, CellResult, StageResult

DECISION_JSON, DECISION_MD = "decision.json", "decision.md"
BROKE = (KNOWN_BREAK, FINDING)  # an XFAIL stage or request whose reason starts so is a finding


class Verdict(StrEnum):
    GO = "GO"
    GO_WITH_ACTIONS = "GO WITH ACTIONS"
    NO_GO = "NO-GO"


EXIT_CODES = {Verdict.GO: 0, Verdict.NO_GO: 1, Verdict.GO_WITH_ACTIONS: 3}  # documented in the README

# what kind of action a finding asks for
CLIENT_REQUEST = "client request change"
RETRAIN = "model retrain"
ORDER = "order of the rollout"
DATA_REPAIR = "data repair"
SPEED = "speed regression"
OUT_OF_DATE = "expectation out of date"
REQUIREMENT = "requirement change"
KNOWN = "known break"

# which kind of action an upgrade or store stage's known break asks for
STAGE_KINDS = {
    "local-serve": RETRAIN, "local-probe": RETRAIN, "model-env-serve": RETRAIN, "model-env-probe": RETRAIN,
    "to-serve": RETRAIN, "to-probe": RETRAIN, "to-tracking": RETRAIN, "speed": SPEED, "new-client": ORDER,
    "to-read": DATA_REPAIR, "migrate": DATA_REPAIR, "migrated-snapshot": DATA_REPAIR,
}  # fmt: skip


@dataclass
class Finding:
    id: str
    kind: str
    cell: str  # the cell's title
    stage: str
    seen: str  # what broke, as the stage or probe said it
    hits: list[str]  # whom it hits: use cases, stored client requests, store kinds
    remedy: str  # the action the rollout needs
    proof: str | None  # the evidence that the remedy works here; None: not proven
    evidence: list[str] = field(default_factory=list)  # log files and cell folders to read
    accepted: dict | None = None  # by, why, until: a team's acceptance
    note: str = ""  # e.g. an acceptance that lapsed

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


def _key(cell: CellResult) -> tuple[str, str, str]:
    return cell.kind, cell.label, cell.usecase


def _log(stage: StageResult) -> list[str]:
    return [stage.log] if stage.log else []


def _migration(cells: dict, label: str, usecase: str, probe: str) -> dict | None:
    upgrade = cells.get(("upgrade", label, usecase))
    if upgrade is None or upgrade.status != PASS:
        return None
    return next((m for m in upgrade.upgrade.get("migrations", []) if m.get("probe") == probe), None)


def _retrained(cells: dict, label: str, usecase: str) -> CellResult | None:
    validate = cells.get(("validate", label, usecase))
    return validate if validate is not None and validate.status == PASS else None


def _probe_findings(cell: CellResult, cells: dict) -> Iterable[Finding]:
    """A stored request's own known break (XFAIL) or its end (XPASS), from its expectation file, in a
    cell of any kind; those a stage's known break turned XFAIL ("known break: ...") are that stage's."""
    usecase = cell.usecase if cell.kind != "store-upgrade" else cell.upgrade.get("usecase", cell.usecase)
    stage_broken = any(s.status == XFAIL and s.reason.startswith(BROKE) for s in cell.stages)
    for probe in cell.probes:
        if probe.status not in (XFAIL, XPASS) or (stage_broken and probe.reason.startswith(BROKE)):
            continue  # the runner turned it XFAIL with its stage's known break: the stage's finding covers it
        fid = finding_id(CLIENT_REQUEST if probe.status == XFAIL else OUT_OF_DATE, *_key(cell), probe.name)
        if probe.status == XPASS:
            yield Finding(fid, OUT_OF_DATE, cell.title, "probe", probe.reason, [f"{usecase}: {probe.name}"],
                          f"remove the known break of `{probe.name}` from its expectation file: it no longer happens",
                          f"the request passed on mlflow {cell.mlflow_version} here", [cell.cell_dir])  # fmt: skip
            continue
        migrated = _migration(cells, cell.label, usecase, probe.name)
        upgrade = cells.get(("upgrade", cell.label, usecase))
        remedy = (
            f"every client that sends `{probe.name}` ({shown(probe.request or '?')}) must send the {cell.label} form"
        )
        if migrated:
            remedy += f": {migrated['curl']}"
        yield Finding(fid, CLIENT_REQUEST, cell.title, "probe", probe.reason, [f"{usecase}: {probe.name}"],
                      remedy, migrated["proof"] if migrated else None,
                      [cell.cell_dir, *([upgrade.cell_dir] if upgrade else [])])  # fmt: skip


def _stage_finding(cell: CellResult, stage: StageResult, cells: dict) -> Finding | None:
    if stage.status == XPASS:
        return Finding(finding_id(OUT_OF_DATE, *_key(cell), cell.from_label, stage.stage), OUT_OF_DATE, cell.title,
                       stage.stage, stage.reason, [cell.usecase],
                       f"remove the known break of stage {stage.stage} from its file: it no longer happens",
                       "the stage passed here", [cell.cell_dir, *_log(stage)])  # fmt: skip
    if stage.status != XFAIL or not stage.reason.startswith(BROKE):
        return None  # "not run: <stage> broke" belongs to the finding of that stage
    kind = STAGE_KINDS.get(stage.stage, KNOWN)
    fid = finding_id(kind, *_key(cell), cell.from_label, stage.stage)
    model = cell.upgrade.get("model") or {}  # a models cell: production's own model, as its registry names it
    hits = list(dict.fromkeys([model.get("shown") or cell.usecase]
                              + [p.name.split(":", 1)[-1] for p in cell.probes if p.status == XFAIL]))  # fmt: skip
    evidence = [cell.cell_dir, *_log(stage)]
    proof, remedy = None, f"no remedy is known: {stage.stage} breaks from {cell.from_label} to {cell.label}"
    if kind == RETRAIN:
        usecase = cell.usecase if cell.kind == "upgrade" else cell.upgrade.get("usecase")  # a store check's use case
        what = model.get("shown") or f"the {cell.from_label} models of {usecase or 'the store use case'}"
        remedy = f"retrain and re-log {what} on {cell.label}"
        retrained = _retrained(cells, cell.label, usecase) if usecase else None
        proofs = []
        if retrained:
            proofs.append(
                f"the validate cell {retrained.title} passed (trained, logged, served, probed on {cell.label})"
            )
            evidence.append(retrained.cell_dir)
        best = cell.proven_remedy()
        if best:
            slower = {n: f["verdict"] for n, f in (best.get("speed") or {}).items() if f.get("regression")}
            more = f" and {len(best['pins']) - 8} more" if len(best["pins"]) > 8 else ""
            pins = f"pin {', '.join(best['pins'][:8])}{more} ({best['name']} in {Path(best['folder']).name})"
            evidence.append(best.get("log") or best["folder"])
            if slower:  # measured on the remedy env's server, since the old model failed on the plain one
                remedy += f"; {pins} answers as logged but slower: " + "; ".join(f"{n}: {v}" for n, v in slower.items())
            else:
                remedy += f"; or, where the old model is served, {pins}"
                proofs.append(f"the old model served by mlflow {cell.label} with those pins: {best['reason']}")
        ran = {s.stage: s.status for s in cell.stages}
        if stage.stage.startswith("model-env") and ran.get("local-serve") == ran.get("local-probe") == PASS:
            where = (f"its logged requirements with mlflow {cell.label} ({Path(cell.cell_dir, 'to-lock').as_posix()})"
                     if model else f"the {cell.label} environment")  # fmt: skip
            remedy += f"; or serve the old model in {where} (`--env-manager local`)"
            proofs.append("the old model answered production's requests as logged there (local-probe passed)")
        remedies = cell.upgrade.get("pin_remedies", [])
        tried = [
            f"{r['name']}: {r['outcome']} ({r.get('reason', '')[:160]})" for r in remedies if r["outcome"] != "proven"
        ]
        if tried:
            remedy += "; library pins that did not work: " + "; ".join(tried)
        proof = "; ".join(proofs) or None
    elif kind == ORDER:
        remedy = f"upgrade the tracking server to {cell.label} before the clients ({cell.label} clients cannot write " \
                 f"to a {cell.from_label} server)"  # fmt: skip
        ran = {s.stage: s.status for s in cell.stages}
        if all(ran.get(s) == PASS for s in ("tracking-server", "from-train", "to-tracking")):
            proof = (f"{cell.from_label} clients trained and logged a run to a {cell.label} tracking server, and "
                     f"{cell.label} read it back as written")  # fmt: skip
    elif kind == DATA_REPAIR:
        repair = cell.upgrade.get("repair") or {}
        remedy = f"repair the store after moving to {cell.label}: {stage.reason}"
        if repair.get("outcome") == "proven":
            remedy = (f"after moving the store to {cell.label}, delete again the experiments the move brought back "
                      f"({', '.join(repair['experiments'])}): " + "; ".join(repair["commands"]))  # fmt: skip
            proof = repair["proof"]
        elif repair:
            remedy += f"; deleting them again did not work: {repair.get('reason', '?')}"
    elif kind == SPEED:
        remedy = f"the {cell.label} server is slower for {cell.usecase}: size the serving fleet or accept it"
    return Finding(fid, kind, cell.title, stage.stage, stage.reason, hits, remedy, proof, evidence)


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
                    f"the {len(validate)} validate cell(s) of {name} passed with it" if passed else None,
                    [c.cell_dir for c in validate],
                )  # fmt: skip


def store_pin_findings(cells: Sequence[CellResult], pins: Sequence[tuple[str, str, str]]) -> Iterable[Finding]:
    """The drivers and pins the store check adds (envs/stores.yaml) for the *to* label's mlflow: every
    environment that opens a tracking store on that label needs them too."""
    for name in sorted({c.label for c in cells if c.kind == "store-upgrade"}):
        checks = [c for c in cells if c.kind == "store-upgrade" and c.label == name]
        version = next((c.mlflow_version for c in checks if c.mlflow_version), None)
        if version is None:
            continue
        passed = all(c.status == PASS for c in checks)
        for specifier, pin, why in pins:
            if specifier and not versionmatch.matches(specifier, version):
                continue
            yield Finding(
                finding_id(REQUIREMENT, "stores", name, pin), REQUIREMENT, f"store checks of {name}", "env",
                f"the store check adds `{pin}` for mlflow {version}: {why or 'no reason recorded in envs/stores.yaml'}",
                [c.usecase for c in checks],
                f"install `{pin}` in every environment that opens a tracking store with mlflow {name}",
                f"the {len(checks)} store cell(s) of {name} passed with it" if passed else None,
                [c.cell_dir for c in checks],
            )  # fmt: skip


def findings(cells: Sequence[CellResult]) -> list[Finding]:
    by_key = {_key(c): c for c in cells}
    found: dict[str, Finding] = {}
    for cell in cells:
        if cell.problem:
            continue
        found.update((f.id, f) for f in _probe_findings(cell, by_key))
        for stage in cell.stages:
            finding = _stage_finding(cell, stage, by_key)
            if finding is not None:
                found.setdefault(finding.id, finding)
    return list(found.values())


def decide(
    cells: Sequence[CellResult], acceptances: Sequence[Acceptance] = (), today: dt.date | None = None,
    previous: dict | None = None, labels: Mapping[str, Label] | None = None,
    store_pins: Sequence[tuple[str, str, str]] = (),
) -> Decision:  # fmt: skip
    """The decision of a run's cells (the missing ones included as FAIL cells)."""
    today = today or dt.date.today()
    failures = []
    for cell in cells:
        if cell.status != PASS:
            failure = cell.failure()
            failures.append({"cell": cell.title, "stage": failure.stage, "reason": failure.reason,
                             "log": failure.log or cell.cell_dir})  # fmt: skip
    found = [*findings(cells), *requirement_findings(cells, labels or {}), *store_pin_findings(cells, store_pins)]
    by_id = {f.id: f for f in found}
    stale = []
    for acceptance in acceptances:
        finding = by_id.get(acceptance.id)
        if finding is None:
            stale.append({"id": acceptance.id, "by": acceptance.by, "why": acceptance.why})
        elif acceptance.lapsed(today):
            finding.note = f"accepted by {acceptance.by} until {acceptance.until}: lapsed"
        else:
            finding.accepted = {"by": acceptance.by, "why": acceptance.why, "until": acceptance.until}
    if failures or not cells or any(f.blocking for f in found):
        verdict = Verdict.NO_GO
    else:
        verdict = Verdict.GO_WITH_ACTIONS if found else Verdict.GO
    decision = Decision(
        verdict,
        sorted({c.label for c in cells}),
        len(cells),
        sum(c.status == PASS for c in cells),
        failures,
        found,
        stale,
    )
    if previous is not None:
        before = {f["id"] for f in previous.get("findings", [])}
        decision.changed = {
            "previous": previous.get("run"), "verdict_before": previous.get("verdict"),
            "new": sorted(set(by_id) - before), "gone": sorted(before - set(by_id)),
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
    lines = [f"# Rollout decision: **{decision.verdict}** ({labels})", "",
             f"{decision.passed} of {decision.cells} cells passed; {len(decision.findings)} finding(s), "
             f"{sum(f.blocking for f in decision.findings)} blocking. Exit code {decision.exit_code}.", ""]  # fmt: skip
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
                lines.append(f"- `{f.id}` **{f.kind}** in {f.cell}, stage {f.stage}: {f.seen}")
                lines.append(f"  - hits: {', '.join(f.hits)}")
                lines.append(f"  - action: {f.remedy}")
                lines.append(f"  - proof: {f.proof or 'not proven in this run'}; evidence: {links}")
                if f.accepted:
                    lines.append(f"  - accepted by {f.accepted['by']}: {f.accepted['why']}")
                if f.note:
                    lines.append(f"  - {f.note}")
            lines.append("")
    if decision.stale:
        lines += ["## Stale acceptances (envs/rollout.yaml names no finding of this run)", ""]
        lines += [f"- `{s['id']}` by {s['by']}: {s['why']}" for s in decision.stale]
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


def write(run: Path, decision: Decision) -> tuple[Path, Path]:
    return write_atomic(run / DECISION_JSON, decision.to_json()), write_atomic(run / DECISION_MD, markdown(decision))
