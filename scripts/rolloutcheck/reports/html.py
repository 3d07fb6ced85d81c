"""One HTML page per run (`<run>/report.html`) that stays usable at 10,000 cells: the decision banner,
every cell in one list with what needs attention first (FAIL, then XPASS, then XFAIL) and filters by
status, kind, label and use case; the label x use case grid and the upgrade and store tables while a
run is small enough to read them; what changed since the previous run; each cell's history.

A cell's details (stages, probes with request, response and oracle, links to its logs and repro.sh)
are not in the page: they are written once per cell into its folder (`details.js`, see
spec/layout.DETAILS_FILE) and loaded when the cell is clicked, so the page grows with the cells'
summaries, not with their logs. History comes from `history.json` beside the run folders (a line of
status per cell and run), not from reading every run. Built with Jinja2 from templates/; CSS and
JS are inline, so the folder can be archived by CI and opened anywhere; links are relative.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import jinja2

from rolloutcheck.core.atomic import write_atomic
from rolloutcheck.reports import decision as deciding
from rolloutcheck.reports import speedplot
from rolloutcheck.reports import summary as report
from rolloutcheck.spec.kinds import KINDS
from rolloutcheck.spec.layout import CELL_FILE, DETAILS_FILE, HISTORY_FILE, load_cells, natural_key
from rolloutcheck.spec.results import FAIL, PASS, XFAIL, XPASS, CellResult

TEMPLATES = Path(__file__).with_name("templates")
OVERVIEW_LIMIT = 400  # above this many cells the grid and per-kind tables are unreadable: the list remains
HISTORY_RUNS = 20  # runs kept in history.json (the newest); older ones drop out of the history
HISTORY_SHOWN = 5  # earlier runs shown beside each cell
PAGE_ROWS = 500  # rows of the list laid out at first (the rest by "show more" or a filter): opens fast
BANNER_ITEMS = 50  # failures and findings listed in the banner (blocking first); decision.md has them all
ATTENTION = {"fail": 0, "xpass": 1, "xfail": 2, "pass": 3}  # the order the list opens in
Key = tuple[str, str, str]


def key_of(cell: CellResult) -> Key:
    return cell.kind, cell.label, cell.usecase


def _key_text(key: Key) -> str:
    return "|".join(key)


def _xpasses(cell: CellResult) -> list[str]:
    return sorted({p.name for p in cell.probes if p.status == XPASS} | {s.stage for s in cell.stages
                                                                         if s.status == XPASS})  # fmt: skip


def status_class(cell: CellResult) -> str:
    if cell.status == FAIL:
        return "fail"
    if any(p.status == XPASS for p in cell.probes) or any(s.status == XPASS for s in cell.stages):
        return "xpass"
    if any(p.status == XFAIL for p in cell.probes) or any(s.status == XFAIL for s in cell.stages):
        return "xfail"
    return "pass"


def _what(cell: CellResult) -> str:
    failure = cell.failure()
    return report.cell_text(cell) if failure is None else f"FAIL {failure.stage}: {failure.reason}"


@dataclass
class RunEntry:
    """One run in history.json: when it started and, per cell, [status, css, what, xpasses, started]."""

    started: str
    cells: dict[str, list]

    @classmethod
    def of(cls, cells: list[CellResult]) -> RunEntry:
        started = min((c.started for c in cells if not c.problem), default="")
        return cls(started, {_key_text(key_of(c)): [c.status.upper(), status_class(c), _what(c)[:160], _xpasses(c),
                                                    c.started + (c.problem or "")] for c in cells})  # fmt: skip


def update_history(run: Path, cells: list[CellResult]) -> dict[str, RunEntry]:
    """history.json beside `run`, with this run's entry written in; every run it holds, by folder name.
    A run folder it does not know yet (made by an older version, or copied in) is read once and added;
    a deleted one drops out; only the newest HISTORY_RUNS are kept."""
    index_file = run.parent / HISTORY_FILE
    try:
        raw = json.loads(index_file.read_text())
        runs = {name: RunEntry(**entry) for name, entry in raw["runs"].items()}
    except (OSError, ValueError, TypeError, KeyError):
        runs = {}
    runs[run.name] = RunEntry.of(cells)
    for folder in run.parent.glob("*/"):
        if folder.name in runs or folder.name.startswith(".") or not any(folder.glob(f"*/*/{CELL_FILE}")):
            continue
        try:  # another run is history only: one this version cannot read never breaks this report
            runs[folder.name] = RunEntry.of([c for c in load_cells(folder) if c.kind in KINDS])
        except (OSError, ValueError, TypeError, KeyError):
            continue
    runs = {name: entry for name, entry in runs.items() if name == run.name or (run.parent / name).is_dir()}
    kept = sorted(runs, key=lambda name: runs[name].started, reverse=True)[:HISTORY_RUNS]
    runs = {name: runs[name] for name in sorted(kept, key=lambda name: runs[name].started)}
    write_atomic(index_file, json.dumps({"runs": {n: vars(e) for n, e in runs.items()}}, separators=(",", ":")))
    return runs


@dataclass
class Changes:
    previous: str | None = None
    new_failures: list[str] = field(default_factory=list)
    fixed: list[str] = field(default_factory=list)
    new_xpass: list[str] = field(default_factory=list)


def changes(run: str, cells: list[CellResult], runs: dict[str, RunEntry]) -> Changes:
    """New failures, fixed cells and new XPASS against the newest run that started before this one."""
    current = runs.get(run) or RunEntry.of(cells)
    before = [name for name, e in runs.items() if name != run and e.started and
              (not current.started or e.started < current.started)]  # fmt: skip
    if not before:
        return Changes()
    previous = max(before, key=lambda name: runs[name].started)
    old = runs[previous].cells
    found = Changes(previous=previous)
    for cell in cells:
        was = old.get(_key_text(key_of(cell)))
        if cell.status == FAIL and (was is None or was[0] == PASS.upper()):
            found.new_failures.append(cell.title + ("" if was else " (not in the previous run)"))
        elif cell.status == PASS and was is not None and was[0] == FAIL.upper():
            found.fixed.append(cell.title)
        new = sorted(set(_xpasses(cell)) - set(was[3] if was else ()))
        if new:
            found.new_xpass.append(f"{cell.title}: {', '.join(new)}")
    return found


def history_of(key: Key, run: str, runs: dict[str, RunEntry]) -> list[dict]:
    """The cell's attempts over the runs kept, newest first; an attempt copied into several runs
    (a merged run and its shards) once, under this run when it is one of them."""
    seen: dict[str, dict] = {}
    for name in [run, *(n for n in reversed(runs) if n != run)]:
        entry = runs.get(name)
        found = entry.cells.get(_key_text(key)) if entry else None
        if found is not None and found[4] not in seen:
            seen[found[4]] = {"run": name, "current": name == run, "status": found[0], "css": found[1],
                              "what": found[2], "started": found[4]}  # fmt: skip
    return sorted(seen.values(), key=lambda h: h["started"], reverse=True)


def _link(path: str | None, base: Path) -> str | None:
    """`path` relative to `base` (the run folder, or a cell's folder for its details) when it exists."""
    if not path or not Path(path).exists():
        return None
    return os.path.relpath(path, base)


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


def details_view(cell: CellResult) -> dict:
    """What the details of a cell show; every link relative to the cell's folder."""
    folder = Path(cell.cell_dir)
    responses = probe_responses(folder / "logs" / "probe.log")
    oracle = oracle_values(folder)
    failure = cell.failure()
    return {
        "title": cell.title, "status": cell.status.upper(), "css": status_class(cell), "flavor": cell.flavor or "",
        "mlflow": cell.mlflow_version or "?", "seconds": round(sum(s.seconds for s in cell.stages)),
        "failure": failure and {"stage": failure.stage, "reason": failure.reason,
                                "log": _link(failure.log, folder)},
        "stages": [{"name": s.stage, "status": s.status.upper(), "reason": s.reason, "seconds": s.seconds,
                    "log": _link(s.log, folder)} for s in cell.stages],
        "probes": [{"name": p.name, "status": p.status.upper(), "reason": p.reason, "http": p.http_status,
                    "request": _read(p.request), "response": responses.get(p.name, ""),
                    "oracle": json.dumps(oracle[p.name]) if p.name in oracle else ""} for p in cell.probes],
        "logs": sorted(os.path.relpath(p, folder) for p in (folder / "logs").glob("*.log")),
        "repro": _link(str(folder / "repro.sh"), folder),
    }  # fmt: skip


def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True, undefined=jinja2.StrictUndefined
    )


def write_details(cell: CellResult, environment: jinja2.Environment | None = None) -> Path | None:
    """The cell's details.js (its details as HTML, handed to the report's rolloutDetail()), written when
    missing or older than its cell.json; None for a cell without a folder (one that never reported)."""
    folder = Path(cell.cell_dir)
    target, result = folder / DETAILS_FILE, folder / CELL_FILE
    if not result.is_file():
        return None
    try:
        if target.stat().st_mtime >= result.stat().st_mtime:
            return target
    except OSError:
        pass
    page = (environment or _environment()).get_template("details.html.j2").render(v=details_view(cell))
    return write_atomic(target, f"rolloutDetail({json.dumps(page)});\n")


def row_view(index: int, cell: CellResult, run: Path, history: list[dict], has_details: bool) -> dict:
    """A cell's line in the list: its summary, where its details are, and its last runs."""
    earlier = [h for h in history if not h["current"]][:HISTORY_SHOWN]
    return {
        "id": f"c{index}", "title": cell.title, "kind": cell.kind, "label": cell.label, "usecase": cell.usecase,
        "from": cell.from_label or "", "status": cell.status.upper(), "css": status_class(cell),
        "flavor": cell.flavor or "", "mlflow": cell.mlflow_version or "?",
        "seconds": round(sum(s.seconds for s in cell.stages)), "speed": report.speed_text(cell).removeprefix(", "),
        "what": _what(cell), "failure": cell.failure(), "problem": cell.problem,
        "folder": os.path.relpath(cell.cell_dir, run) if has_details else "",
        "history": earlier, "history_text": " · ".join(f"{h['run']}: {h['status']}" for h in earlier),
        "upgrade_row": report.upgrade_row(cell) if cell.kind == "upgrade" else None,
        "store_text": report.store_text(cell) if cell.kind == "store-upgrade" else None,
        "model_row": report.model_row(cell) if cell.kind == "models" else None,
    }  # fmt: skip


def upgrade_header(upgrades: list[CellResult]) -> list[str]:
    """The upgrade table's column names as the Markdown report writes them (report.py owns the
    columns; upgrade_row gives the cells), so both tables always agree."""
    lines = report.markdown(upgrades).splitlines()
    start = next((i for i, line in enumerate(lines) if line.startswith("Upgrades")), None)
    header = next((line for line in lines[start or 0 :] if line.startswith("| ")), "") if start is not None else ""
    return [name.strip() for name in header.strip("| ").split(" | ")] if header else []


def speed_views(cells: list[CellResult]) -> list[dict]:
    """The speed table's rows (the decision's), each with its picture's geometry and its verdict's colour."""
    views = []
    for row in deciding.speed_rows(cells):
        slower = row["verdict"] == "regression"
        css = "fail" if slower else "pass" if row["verdict"] == "none" else "xfail"  # inconclusive, not served: said
        views.append({"line": deciding.speed_line(row).strip("| ").split(" | "), "css": css,
                      "plot": speedplot.geometry(row.get("quantiles") or {}, slower)})  # fmt: skip
    return views


def decision_view(run: Path) -> dict | None:
    """The run's decision (decision.json, written by `nox -s decide`) for the banner, links relative to the run."""
    try:
        made = json.loads((run / "decision.json").read_text())
    except (OSError, ValueError):
        return None
    css = {"GO": "pass", "GO WITH ACTIONS": "xfail", "NO-GO": "fail", "BAD INPUT": "fail"}.get(
        made.get("verdict"), "fail"
    )
    made["findings"] = sorted(made.get("findings", []), key=lambda f: not f.get("blocking"))  # stable
    for failure in made.get("failures", [])[:BANNER_ITEMS]:
        failure["link"] = _link(str(failure.get("log") or run), run) or "."
    for finding in made["findings"][:BANNER_ITEMS]:
        finding["links"] = [link for e in finding.get("evidence", []) if (link := _link(str(e), run))]
    return made | {"css": css}


def render(run: Path, cells: list[CellResult], runs: dict[str, RunEntry] | None = None) -> str:
    """The page; `runs` is the history (update_history's), none when not given. Writes missing details.js."""
    runs = {} if runs is None else runs
    environment = _environment()
    views = []
    for index, cell in enumerate(cells):
        has_details = write_details(cell, environment) is not None
        views.append(row_view(index, cell, run, history_of(key_of(cell), run.name, runs), has_details))
    listed = sorted(views, key=lambda v: ATTENTION[v["css"]])  # stable: natural order within a status
    overview = len(cells) <= OVERVIEW_LIMIT
    validate = [v for v in views if v["kind"] == "validate"] if overview else []
    labels = list(dict.fromkeys(v["label"] for v in validate))
    usecases = sorted({v["usecase"] for v in validate}, key=natural_key)
    grid = {(v["label"], v["usecase"]): v for v in validate}
    stores = [(c, v) for c, v in zip(cells, views, strict=True) if c.kind == "store-upgrade"] if overview else []
    store_kinds = [k for k in report.STORE_COLUMNS if any(c.usecase == k for c, _ in stores)]
    store_kinds += sorted({c.usecase for c, _ in stores} - set(store_kinds))
    found = {(f"{c.from_label} -> {c.label}", c.usecase): v for c, v in stores}
    pairs = list(dict.fromkeys(f"{c.from_label} -> {c.label}" for c, _ in stores))
    store_rows = [(pair, [found.get((pair, k)) for k in store_kinds]) for pair in pairs]
    upgrades = [c for c in cells if c.kind == "upgrade"] if overview else []
    facets = {name: sorted({v[name] for v in views}, key=natural_key) for name in ("kind", "label", "usecase")}
    attention = sum(1 for v in views if v["css"] != "pass")
    return environment.get_template("report.html.j2").render(
        run=run.name, labels=labels, usecases=usecases, grid=grid, cells=listed, overview=overview,
        limit=OVERVIEW_LIMIT, upgrades=[v for v in views if v["kind"] == "upgrade"] if overview else [],
        changes=changes(run.name, cells, runs), upgrade_header=upgrade_header(upgrades),
        store_kinds=store_kinds, store_rows=store_rows, facets=facets, attention=attention,
        models=[v for v in views if v["kind"] == "models"] if overview else [], model_header=report.MODEL_COLUMNS,
        counts={s: sum(1 for v in views if v["status"] == s) for s in (PASS.upper(), FAIL.upper())},
        junit=_link(str(run / "junit.xml"), run), summary=_link(str(run / "summary.md"), run),
        decision=decision_view(run), shown=BANNER_ITEMS, page=PAGE_ROWS,
        speed=speed_views(cells) if overview else [],
    )  # fmt: skip


def write(run: Path, cells: list[CellResult]) -> Path:
    return write_atomic(run / "report.html", render(run, cells, update_history(run, cells)))
