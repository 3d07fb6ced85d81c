"""How each finding kind's remedy is worded and proven: one prover per kind of spec/findings.py.

A prover gets one break seen in one cell (`Seen`) and the run's cells, and returns the action, the proof
from the run's own cells (None: not proven, blocking unless accepted) and the group: breaks of the same
kind, label and group are one action of the decision (the seed's request on every use case is one
client request change, not one per cell).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from rolloutcheck.probes import loadtest
from rolloutcheck.spec import breaks, findings
from rolloutcheck.spec.results import PASS, XFAIL, CellResult, ProbeResult, StageResult

Cells = dict[tuple[str, str, str], CellResult]  # (kind, label, use case) -> the cell


@dataclass(frozen=True)
class Seen:
    """One break as one cell saw it."""

    kind: str  # a key of findings.FINDING_KINDS
    cell: CellResult
    stage: StageResult | None  # None: a stored request's own known break (`probe`)
    probe: ProbeResult | None
    line: str  # what was seen
    entry: dict | None  # the written-down break (spec/breaks.py Described.as_dict), None when nobody wrote it

    @property
    def stage_name(self) -> str:
        return self.stage.stage if self.stage else "probe"

    @property
    def usecase(self) -> str:
        """The use case whose model or requests broke (a store check's is the one trained into it)."""
        return self.cell.upgrade.get("usecase", self.cell.usecase) if self.cell.kind != "upgrade" else self.cell.usecase

    @property
    def model(self) -> dict:
        return self.cell.upgrade.get("model") or {}  # a models cell: production's own model, as its registry names it

    @property
    def what(self) -> str:
        """The break's identity within its cell: the written-down entry, else the seen line without what changes
        between two runs of one failure (paths, ids, ports): its numbers kept ("[0.0] != [5.61]" is another cause
        than "[5.61] != [5.6100001]")."""
        return breaks.Described(**self.entry).key if self.entry else breaks.comparable(self.line)


@dataclass
class Remedy:
    action: str
    proof: str | None
    group: str  # breaks of one kind, label and group are one action
    hits: list[str] = field(default_factory=list)
    evidence: list[str] = field(default_factory=list)


def _log(stage: StageResult | None) -> list[str]:
    return [stage.log] if stage is not None and stage.log else []


def _ran(cell: CellResult) -> dict[str, str]:
    return {s.stage: s.status for s in cell.stages}


def _migration(cells: Cells, label: str, usecase: str, probe: str) -> tuple[dict | None, CellResult | None]:
    upgrade = cells.get(("upgrade", label, usecase))
    if upgrade is None or upgrade.status != PASS:
        return None, upgrade
    return next((m for m in upgrade.upgrade.get("migrations", []) if m.get("probe") == probe), None), upgrade


def client_request(seen: Seen, cells: Cells) -> Remedy:
    probe, cell = seen.probe, seen.cell
    name = probe.name.split(":", 1)[-1] if probe else seen.stage_name
    migrated, upgrade = _migration(cells, cell.label, seen.usecase, name)
    action = f"every client that sends `{name}` must send the {cell.label} form"
    if migrated:
        action += f"; for {seen.usecase}: {migrated['curl']}"
    evidence = [cell.cell_dir, *([upgrade.cell_dir] if upgrade else [])]
    group = seen.entry["reason"] if seen.entry else name
    return Remedy(action, migrated["proof"] if migrated else None, group, [f"{seen.usecase}: {name}"], evidence)


def _pins(cell: CellResult) -> tuple[str, str | None, list[str]]:
    """The least proven pins of the cell's pin remedy: (action part, proof, evidence)."""
    best = cell.proven_remedy()
    if not best:
        return "", None, []
    needed = best.get("needed")  # the pins shown necessary one by one (pin.py minimize), else all it changed
    pins = needed if needed is not None else best["pins"]
    shown_pins = ", ".join(f"`{p['pin']}` (without it: {p['without'][:120]})" if isinstance(p, dict) else f"`{p}`"
                           for p in pins) or "nothing beyond the model's own libraries"  # fmt: skip
    where = Path(best.get("minimal_folder") or best["folder"]).name
    part = f"pin {shown_pins} beside mlflow=={cell.mlflow_version or cell.label} ({where}){speed_of(best.get('speed'))}"
    proof = f"the old model served by mlflow {cell.label} with those pins: {best['reason']}"
    if needed is not None:
        tries = len((best.get("minimized") or {}).get("tries", []))
        changed = len(best["pins"]) + len(best.get("added", []))
        proof += f"; each kept pin removed in turn failed ({len(needed)} kept of {changed} changed, {tries} tries)"
    elif best.get("minimized"):
        proof += f"; not reduced: {best['minimized'].get('why', '?')}"
    evidence = best.get("minimal_folder") or best.get("log") or best["folder"]
    return f"; or, where the old model is served, {part}", proof, [evidence]


def speed_of(rows: list[dict] | None) -> str:
    """A path's speed against production's server, as an action says it (a slower one says so)."""
    shown = [f"{r['request']}: {r['text']}" for r in rows or [] if "verdict" in r]
    if not shown:
        return ""
    slower = any(r["verdict"] == loadtest.REGRESSION for r in rows or [])
    return f" ({'SLOWER than production' if slower else 'speed against production'}: {'; '.join(shown)})"


def retrain(seen: Seen, cells: Cells) -> Remedy:
    cell, model = seen.cell, seen.model
    usecase = seen.usecase if cell.kind != "models" or cell.upgrade.get("usecase") else None
    what = model.get("shown") or f"the {cell.from_label} models of {usecase or 'the store use case'}"
    action = f"retrain and re-log {what} on {cell.label}"
    upgrade = cell if cell.kind == "upgrade" else cells.get(("upgrade", cell.label, usecase)) if usecase else None
    if upgrade is not None:
        action += speed_of([r for r in upgrade.upgrade.get("speed", []) if r.get("path") == "retrained"])
    proofs, evidence = [], [cell.cell_dir, *_log(seen.stage)]
    retrained = cells.get(("validate", cell.label, usecase)) if usecase else None
    if cell.kind == "models" and seen.entry is None:
        # production's own model broke in a way nobody wrote down: the use case's validate cell trained another
        # model, so it cannot show that retraining fixes this one (its own code may be the cause); only what ran
        # on this model itself (its pins, its label environment) is proof
        where = f"probes/{usecase}/upgrade.yaml" if usecase else "envs/models.yaml's linked use case"
        action += f" (its cause is written down nowhere: find it, then write it in {where})"
        retrained = None
    if retrained is not None and retrained.stages and all(s.status == PASS for s in retrained.stages):
        # every stage PASS: a stage that broke as written down (XFAIL) has not shown the retrained model works
        proofs.append(f"the validate cell {retrained.title} passed (trained, logged, served, probed on {cell.label})")
        evidence.append(retrained.cell_dir)
    pins, pin_proof, pin_evidence = _pins(cell)
    action += pins
    proofs += [pin_proof] if pin_proof else []
    evidence += pin_evidence
    ran = _ran(cell)
    if seen.stage_name.startswith("model-env") and ran.get("local-serve") == ran.get("local-probe") == PASS:
        where = (f"its logged requirements with mlflow {cell.label} ({Path(cell.cell_dir, 'to-lock').as_posix()})"
                 if model else f"the {cell.label} environment")  # fmt: skip
        action += f"; or serve the old model in {where} (`--env-manager local`)"
        proofs.append("the old model answered production's requests as logged there (local-probe passed)")
    tried = [f"{r['name']}: {r['outcome']} ({r.get('reason', '')[:160]})"
             for r in cell.upgrade.get("pin_remedies", []) if r["outcome"] != "proven"]  # fmt: skip
    if tried:
        action += "; library pins that did not work: " + "; ".join(tried)
    hits = [model.get("shown") or seen.usecase]
    return Remedy(action, "; ".join(proofs) or None, model.get("shown") or usecase, hits, evidence)


def rollout_order(seen: Seen, cells: Cells) -> Remedy:
    cell = seen.cell
    action = (f"upgrade the tracking server to {cell.label} before the clients ({cell.label} clients cannot write "
              f"to a {cell.from_label} server)")  # fmt: skip
    ran, proof = _ran(cell), None
    if all(ran.get(s) == PASS for s in ("tracking-server", "from-train", "to-tracking")):
        proof = (f"{cell.from_label} clients trained and logged a run to a {cell.label} tracking server, and "
                 f"{cell.label} read it back as written")  # fmt: skip
    return Remedy(action, proof, seen.what, [cell.usecase], [cell.cell_dir, *_log(seen.stage)])


def configuration(seen: Seen, cells: Cells) -> Remedy:
    """The setting a written-down break names, proven by the stage's own work with it (`details["opened"]`:
    the store opened with the setting) and, for file stores, by the migration path where it ran."""
    cell, stage = seen.cell, seen.stage
    action = f"on {cell.label}: {seen.entry['reason'] if seen.entry else seen.line}"
    proofs = []
    opened = (stage.details.get("opened") if stage else None) or {}
    # a break the stage met and worked around: the run that worked around this one is its proof
    met = next((m for m in (stage.details.get("met") or [] if stage else []) if m["seen"] == seen.line), None)
    if met is not None and _only_written(stage):
        proofs.append(met["proof"])
        action += (
            f": production's {met.get('what', 'tracking server')} as `{met['command']}`" if met.get("command") else ""
        )
    elif isinstance(opened, dict) and opened and _only_written(stage):
        # the remedy's own path: the read with the setting ran to its end, and whatever it found different
        # from production's store is a written-down break of its own (each difference matched on its own)
        setting = ", ".join(f"{k}={v}" for k, v in opened.items())
        proofs.append(f"with {setting} the {cell.label} client opened the {cell.from_label} store and read it "
                      f"({stage.stage})")  # fmt: skip
    migrate = next((s for s in cell.stages if s.stage == "migrate"), None)
    after = next((s for s in cell.stages if s.stage == "migrated-snapshot"), None)
    offered = "migrate-filestore" in (seen.entry or {}).get("reason", "")  # the action names the migration
    if (
        offered
        and migrate is not None
        and migrate.status == PASS
        and migrate.details.get("applicable", True)
        and (after is not None and after.status in (PASS, XFAIL) and _only_written(after))
    ):
        proofs.append(f"`mlflow migrate-filestore` moved it into SQLite ({migrate.reason}), read back in "
                      f"migrated-snapshot ({after.status})")  # fmt: skip
    return Remedy(action, "; ".join(proofs) or None, seen.what, [cell.usecase], [cell.cell_dir, *_log(stage)])


def _only_written(stage: StageResult) -> bool:
    """A stage that passed, or broke only in ways written down (no unwritten break, not a failure)."""
    return (
        stage.status == PASS or stage.status == XFAIL and all(b.get("entry") for b in stage.details.get("breaks", []))
    )


def data_repair(seen: Seen, cells: Cells) -> Remedy:
    cell = seen.cell
    repair = cell.upgrade.get("repair") or {}
    written = seen.entry["reason"] if seen.entry else seen.line
    action, proof = f"repair the store after moving to {cell.label}: {written}", None
    if repair.get("outcome") == "proven":
        action = (f"after moving the store to {cell.label}, delete again the experiments the move brought back "
                  f"({', '.join(repair['experiments'])}): " + "; ".join(repair["commands"]))  # fmt: skip
        proof = repair["proof"]
    elif repair:
        action += f"; deleting them again did not work: {repair.get('reason', '?')}"
    group = f"{cell.title}|{action}" if proof else seen.what  # one repair, wherever in the cell it was seen
    return Remedy(action, proof, group, [cell.usecase], [cell.cell_dir, *_log(seen.stage)])


def speed(seen: Seen, cells: Cells) -> Remedy:
    cell = seen.cell
    action = f"the {cell.label} server is slower for {seen.usecase}: size the serving fleet or accept it"
    return Remedy(action, None, seen.what, [seen.usecase], [cell.cell_dir, *_log(seen.stage)])


def out_of_date(seen: Seen, cells: Cells) -> Remedy:
    cell = seen.cell
    where = f"`{seen.probe.name}` from its expectation file" if seen.probe else f"stage {seen.stage_name} from its file"
    proof = f"the request passed on mlflow {cell.mlflow_version} here" if seen.probe else "the stage passed here"
    return Remedy(f"remove the known break of {where}: it no longer happens", proof, seen.what, [seen.usecase],
                  [cell.cell_dir, *_log(seen.stage)])  # fmt: skip


def unwritten(seen: Seen, cells: Cells) -> Remedy:
    cell = seen.cell
    files = "envs/stores.yaml" if cell.kind == "store-upgrade" else f"probes/{seen.usecase}/upgrade.yaml"
    action = (f"none known: {seen.stage_name} broke from {cell.from_label} to {cell.label} in a way nobody wrote "
              f"down; find the cause, then write it down in {files} with `seen:` matching it")  # fmt: skip
    return Remedy(action, None, f"{cell.title}|{seen.what}", [seen.model.get("shown") or seen.usecase],
                  [cell.cell_dir, *_log(seen.stage)])  # fmt: skip


def known(seen: Seen, cells: Cells) -> Remedy:
    cell = seen.cell
    reason = seen.entry["reason"] if seen.entry else seen.line
    action = f"no remedy is known: {seen.stage_name} breaks from {cell.from_label} to {cell.label}: {reason}"
    return Remedy(action, None, seen.what, [seen.usecase], [cell.cell_dir, *_log(seen.stage)])


def python_move(seen: Seen, cells: Cells) -> Remedy:
    cell = seen.cell
    move = cell.upgrade.get("python_move") or {}
    action = f"{seen.usecase} cannot run mlflow {cell.label} on its Python: {seen.line}"
    proof = None
    if move.get("outcome") == "proven":
        shown = move.get("file") or f"usecases/{seen.usecase}/usecase.yaml"
        action = f"add to {shown}: `{move['line']}`, and retrain {seen.usecase} on Python {move['python']}"
        proof = move["proof"]
    elif move:
        action += f"; Python {move.get('python', '?')} did not work either: {move.get('reason', '?')}"
    return Remedy(
        action,
        proof,
        seen.usecase,
        [seen.usecase],
        [cell.cell_dir, *_log(seen.stage), *([move["cell"]] if move.get("cell") else [])],
    )


Prover = Callable[[Seen, Cells], Remedy]
PROVERS: dict[str, Prover] = {
    findings.CLIENT_REQUEST.key: client_request,
    findings.RETRAIN.key: retrain,
    findings.ORDER.key: rollout_order,
    findings.CONFIGURATION.key: configuration,
    findings.DATA_REPAIR.key: data_repair,
    findings.SPEED.key: speed,
    findings.OUT_OF_DATE.key: out_of_date,
    findings.UNWRITTEN.key: unwritten,
    findings.KNOWN.key: known,
    findings.PYTHON_MOVE.key: python_move,
}  # requirement changes and downtimes are made from the registry and the store cells' measurements, not from a
# break seen (decision.requirement_findings, decision.downtime_findings)

DEFAULT_KINDS = {"speed": findings.SPEED.key}  # a models cell's unwritten break by stage; others: retrain
