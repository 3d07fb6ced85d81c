"""One self-contained HTML page per run (`<run>/report.html`): the label x use case grid, and for
each cell its stages, probes (request, response, oracle) and links to its logs and repro.sh; the
upgrade table; what changed since the previous run; each cell's history over the runs kept.

Built with Jinja2 from templates/report.html.j2 (package data); CSS and JS are inline, so the
file can be archived by CI and opened anywhere. Links to logs are relative to the run folder.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import jinja2

from rolloutcheck.core.atomic import write_atomic
from rolloutcheck.models.kinds import KINDS
from rolloutcheck.models.layout import load_cells, natural_key
from rolloutcheck.models.results import FAIL, PASS, XFAIL, XPASS, CellResult
from rolloutcheck.reports import summary as report

TEMPLATES = Path(__file__).with_name("templates")
Key = tuple[str, str, str]


def key_of(cell: CellResult) -> Key:
    return cell.kind, cell.label, cell.usecase


@dataclass
class RunCells:
    """A run folder and its cells, newest attempt each."""

    path: Path
    cells: list[CellResult]

    @property
    def started(self) -> str:
        return min((c.started for c in self.cells if not c.problem), default="")

    def by_key(self) -> dict[Key, CellResult]:
        return {key_of(c): c for c in self.cells}


@dataclass
class Changes:
    previous: str | None = None
    new_failures: list[str] = field(default_factory=list)
    fixed: list[str] = field(default_factory=list)
    new_xpass: list[str] = field(default_factory=list)


def earlier_runs(run: Path) -> list[RunCells]:
    """The other runs beside `run` (results/runs/*) that hold cells, oldest first."""
    found = []
    for folder in sorted(run.parent.glob("*/")):
        if folder.resolve() == run.resolve() or not any(folder.glob("*/*/cell.json")):
            continue
        try:  # another run is history only: one this version cannot read never breaks this report
            cells = [c for c in load_cells(folder) if c.kind in KINDS]
        except (OSError, ValueError, TypeError, KeyError):
            continue
        found.append(RunCells(folder, cells))
    return found


def _xpasses(cell: CellResult) -> set[str]:
    return {p.name for p in cell.probes if p.status == XPASS} | {s.stage for s in cell.stages if s.status == XPASS}


def changes(current: RunCells, others: list[RunCells]) -> Changes:
    """New failures, fixed cells and new XPASS against the newest run that started before this one."""
    before = [r for r in others if r.started and (not current.started or r.started < current.started)]
    if not before:
        return Changes()
    previous = max(before, key=lambda r: r.started)
    old = previous.by_key()
    found = Changes(previous=previous.path.name)
    for cell in current.cells:
        was = old.get(key_of(cell))
        if cell.status == FAIL and (was is None or was.status == PASS):
            found.new_failures.append(cell.title + ("" if was else " (not in the previous run)"))
        elif cell.status == PASS and was is not None and was.status == FAIL:
            found.fixed.append(cell.title)
        new = sorted(_xpasses(cell) - (_xpasses(was) if was else set()))
        if new:
            found.new_xpass.append(f"{cell.title}: {', '.join(new)}")
    return found


def _link(path: str | None, run: Path) -> str | None:
    if not path or not Path(path).exists():
        return None
    return os.path.relpath(path, run)


def probe_responses(log: Path) -> dict[str, str]:
    """What the server answered each probe, from the probe log (`--- name: ...` ... `<-- HTTP n`)."""
    if not log.is_file():
        return {}
    answers, name = {}, None
    for block in re.split(r"^--- ", log.read_text(errors="replace"), flags=re.M):
        name = block.split(":", 1)[0].strip()
        if "<-- HTTP" in block:
            answers[name] = "HTTP" + block.split("<-- HTTP", 1)[1].rstrip()
    return answers


def oracle_values(cell_dir: Path) -> dict:
    try:
        return json.loads((cell_dir / "check" / "out.json").read_text()).get("oracle") or {}
    except (OSError, ValueError, AttributeError):
        return {}


def _read(path: str | None) -> str:
    try:
        return Path(path).read_text(errors="replace") if path else ""
    except OSError:
        return ""


def status_class(cell: CellResult) -> str:
    if cell.status == FAIL:
        return "fail"
    if any(p.status == XPASS for p in cell.probes) or any(s.status == XPASS for s in cell.stages):
        return "xpass"
    if any(p.status == XFAIL for p in cell.probes) or any(s.status == XFAIL for s in cell.stages):
        return "xfail"
    return "pass"


def cell_view(index: int, cell: CellResult, run: Path, history: list[dict]) -> dict:
    folder = Path(cell.cell_dir)
    responses = probe_responses(folder / "logs" / "probe.log")
    oracle = oracle_values(folder)
    failure = cell.failure()
    p95 = report.speed_text(cell).removeprefix(", ")
    return {
        "id": f"c{index}", "title": cell.title, "kind": cell.kind, "label": cell.label, "usecase": cell.usecase,
        "status": cell.status.upper(), "css": status_class(cell), "flavor": cell.flavor or "",
        "mlflow": cell.mlflow_version or "?", "seconds": round(sum(s.seconds for s in cell.stages)),
        "speed": p95, "problem": cell.problem,
        "failure": failure and {"stage": failure.stage, "reason": failure.reason, "log": _link(failure.log, run)},
        "stages": [{"name": s.stage, "status": s.status.upper(), "reason": s.reason, "seconds": s.seconds,
                    "log": _link(s.log, run)} for s in cell.stages],
        "probes": [{"name": p.name, "status": p.status.upper(), "reason": p.reason, "http": p.http_status,
                    "request": _read(p.request), "response": responses.get(p.name, ""),
                    "oracle": json.dumps(oracle[p.name]) if p.name in oracle else ""} for p in cell.probes],
        "logs": sorted(_link(str(p), run) for p in (folder / "logs").glob("*.log")) if folder.is_dir() else [],
        "folder": _link(str(folder), run), "repro": _link(str(folder / "repro.sh"), run),
        "upgrade_row": report.upgrade_row(cell) if cell.kind == "upgrade" else None,
        "store_text": report.store_text(cell) if cell.kind == "store-upgrade" else None,
        "history": history,
    }  # fmt: skip


def upgrade_header(upgrades: list[CellResult]) -> list[str]:
    """The upgrade table's column names as the Markdown report writes them (report.py owns the
    columns; upgrade_row gives the cells), so both tables always agree."""
    lines = report.markdown(upgrades).splitlines()
    start = next((i for i, line in enumerate(lines) if line.startswith("Upgrades")), None)
    header = next((line for line in lines[start or 0 :] if line.startswith("| ")), "") if start is not None else ""
    return [name.strip() for name in header.strip("| ").split(" | ")] if header else []


def decision_view(run: Path) -> dict | None:
    """The run's decision (decision.json, written by `nox -s decide`) for the banner, links relative to the run."""
    try:
        made = json.loads((run / "decision.json").read_text())
    except (OSError, ValueError):
        return None
    css = {"GO": "pass", "GO WITH ACTIONS": "xfail", "NO-GO": "fail"}.get(made.get("verdict"), "fail")
    for failure in made.get("failures", []):
        failure["link"] = _link(str(failure.get("log") or run), run) or "."
    for finding in made.get("findings", []):
        finding["links"] = [link for e in finding.get("evidence", []) if (link := _link(str(e), run))]
    return made | {"css": css}


def render(run: Path, cells: list[CellResult], others: list[RunCells] | None = None) -> str:
    others = earlier_runs(run) if others is None else others
    current = RunCells(run, cells)
    # one line per attempt of the cell, newest first; an attempt copied into several runs (merged
    # runs) is listed once, under this run when it is one of them
    past: dict[Key, dict[str, dict]] = {}
    for other in [current, *others]:
        for cell in other.cells:
            failure = cell.failure()
            attempts = past.setdefault(key_of(cell), {})
            attempts.setdefault(cell.started + (cell.problem or ""), {
                "run": other.path.name, "current": other is current, "status": cell.status.upper(),
                "css": status_class(cell), "started": cell.started, "what": report.cell_text(cell)
                if failure is None else f"FAIL {failure.stage}: {failure.reason}"})  # fmt: skip
    history = {key: sorted(found.values(), key=lambda h: h["started"], reverse=True) for key, found in past.items()}
    views = [cell_view(i, c, run, history.get(key_of(c), [])) for i, c in enumerate(cells)]
    validate = [v for v in views if v["kind"] == "validate"]
    labels = list(dict.fromkeys(v["label"] for v in validate))
    usecases = sorted({v["usecase"] for v in validate}, key=natural_key)
    grid = {(v["label"], v["usecase"]): v for v in validate}
    stores = [(c, v) for c, v in zip(cells, views, strict=True) if c.kind == "store-upgrade"]
    store_kinds = [k for k in report.STORE_COLUMNS if any(c.usecase == k for c, _ in stores)]
    store_kinds += sorted({c.usecase for c, _ in stores} - set(store_kinds))
    found = {(f"{c.from_label} -> {c.label}", c.usecase): v for c, v in stores}
    pairs = list(dict.fromkeys(f"{c.from_label} -> {c.label}" for c, _ in stores))
    store_rows = [(pair, [found.get((pair, k)) for k in store_kinds]) for pair in pairs]
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True, undefined=jinja2.StrictUndefined
    )
    return env.get_template("report.html.j2").render(
        run=run.name, labels=labels, usecases=usecases, grid=grid, cells=views,
        upgrades=[v for v in views if v["kind"] == "upgrade"], changes=changes(current, others),
        upgrade_header=upgrade_header([c for c in cells if c.kind == "upgrade"]),
        store_kinds=store_kinds, store_rows=store_rows,
        counts={s: sum(1 for v in views if v["status"] == s) for s in (PASS.upper(), FAIL.upper())},
        junit=_link(str(run / "junit.xml"), run), summary=_link(str(run / "summary.md"), run),
        decision=decision_view(run),
    )  # fmt: skip


def write(run: Path, cells: list[CellResult]) -> Path:
    return write_atomic(run / "report.html", render(run, cells))
