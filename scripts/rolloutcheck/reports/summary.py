"""Aggregating cell results: JUnit XML (one test case per stage and probe) and a Markdown table."""

from __future__ import annotations

import math
import os
import tempfile
from collections import Counter
from pathlib import Path

from junitparser import Failure, JUnitXml, Skipped, TestCase, TestSuite

from rolloutcheck.core.atomic import write_atomic
from rolloutcheck.spec import kinds
from rolloutcheck.spec.layout import group_dir, natural_key
from rolloutcheck.spec.results import FAIL, PASS, SKIP, XFAIL, XPASS, CellResult


def _cases(cell: CellResult, classname: str) -> list[TestCase]:
    """A cell's test cases: one per stage and probe (and one for a cell that never reported)."""
    cases = []
    if cell.problem:
        case = TestCase("cell", classname=classname)
        case.result = [Failure(f"{cell.problem} ({cell.cell_dir})")]
        cases.append(case)
    for stage in cell.stages:
        case = TestCase(stage.stage, classname=classname, time=stage.seconds)
        if stage.status == FAIL:
            case.result = [Failure(f"{stage.reason} (log: {stage.log})")]
        elif stage.status == SKIP:
            case.result = [Skipped(stage.reason)]
        cases.append(case)
    for probe in cell.probes:
        case = TestCase(f"probe {probe.name}", classname=classname, time=probe.seconds)
        if probe.status == FAIL:
            case.result = [Failure(probe.reason)]
        elif probe.status == XFAIL:
            case.result = [Skipped(f"XFAIL: {probe.reason}")]  # pytest's convention
        elif probe.status == XPASS:
            case.system_out = f"XPASS: {probe.reason}"
        cases.append(case)
    return cases


def junit(cells: list[CellResult]) -> JUnitXml:
    """One suite per label. Cases are appended and the statistics counted once per suite: junitparser's
    add_testcase recounts the whole suite on every add, which made 2,000 cells take minutes."""
    xml = JUnitXml("rolloutcheck")
    by_label: dict[str, list[CellResult]] = {}
    for cell in cells:
        by_label.setdefault(cell.label, []).append(cell)
    for label, members in by_label.items():
        suite = TestSuite(f"mlflow {label}")
        for cell in members:
            for case in _cases(cell, f"{group_dir(cell.kind, label)}.{cell.usecase}"):
                suite.append(case)
        suite.update_statistics()
        xml.add_testsuite(suite)
    xml.update_statistics()
    return xml


def speed_text(cell: CellResult) -> str:
    """The slowest p95 of a cell's probes (validate cells), for the table."""
    p95 = [f["p95_ms"] for f in cell.speed.values() if not math.isnan(f.get("p95_ms", math.nan))]
    return f", p95 {max(p95):.0f} ms" if p95 else ""


def cell_text(cell: CellResult) -> str:
    failure = cell.failure()
    if failure is not None:
        return f"FAIL {failure.stage}: {failure.reason}"
    counts = Counter(probe.status for probe in cell.probes)
    probes = ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
    flavor = f" [{cell.flavor}]" if cell.flavor else ""
    return f"{cell.status.upper()}{flavor}" + (f" ({probes}{speed_text(cell)})" if probes else "")


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|---" * len(header) + "|"]
    return lines + ["| " + " | ".join(t.replace("|", "\\|") for t in row) + " |" for row in rows]


def markdown(cells: list[CellResult]) -> str:
    validate = [c for c in cells if c.kind == "validate"]
    upgrades = [c for c in cells if c.kind == "upgrade"]
    stores = [c for c in cells if c.kind == "store-upgrade"]
    models = [c for c in cells if c.kind == "models"]
    lines = []
    if validate or not (upgrades or stores or models):
        labels = list(dict.fromkeys(c.label for c in validate))
        usecases = sorted({c.usecase for c in validate}, key=natural_key)
        latest = {(c.label, c.usecase): c for c in validate}
        rows = []
        for label in labels:
            versions = {c.mlflow_version for c in validate if c.label == label and c.mlflow_version}
            row = [f"{label} ({', '.join(sorted(versions)) or '?'})"]
            row += [cell_text(latest[(label, u)]) if (label, u) in latest else "not asked for" for u in usecases]
            rows.append(row)
        lines += _table(["label (mlflow)", *usecases], rows)
    if upgrades:
        lines += ["", "Upgrades (the model logged by the *from* label, served by the *to* label):", ""]
        lines += _table(
            [
                "from -> to",
                "use case",
                "cell",
                "local serve",
                "model-env serve",
                "requests to migrate",
                "p95 from -> to",
            ],
            [upgrade_row(c) for c in upgrades],
        )
    if stores:
        lines += ["", "Tracking stores (written by the *from* label, upgraded and read by the *to* label):", ""]
        lines += store_table(stores)
    if models:
        lines += ["", "Production's models (a copy of its store; served by the *from* label, then the *to* label):", ""]
        lines += _table(MODEL_COLUMNS, [model_row(c) for c in models])
    notes = []
    for cell in cells:
        where = cell.title
        for probe in cell.probes:
            if probe.status in (XFAIL, XPASS, FAIL):
                notes.append(f"- {where}, probe `{probe.name}`: **{probe.status.upper()}** - {probe.reason}")
        for stage in cell.stages:
            if stage.status in (XFAIL, XPASS):
                notes.append(f"- {where}, `{stage.stage}`: **{stage.status.upper()}** - {stage.reason}")
        failure = cell.failure()
        if failure is not None:
            notes.append(
                f"- {where}: **FAIL at {failure.stage}** - {failure.reason} (log: {failure.log or cell.cell_dir})"
            )
        for migration in cell.upgrade.get("migrations", []):
            notes.append(f"- {where}: clients must change `{migration['probe']}` to: `{migration['curl'].strip()}`"
                         f" ({migration['proof']})")  # fmt: skip
    if notes:
        lines += ["", "Notes:", *notes]
    return "\n".join(lines) + "\n"


def _stage_text(cell: CellResult, name: str) -> str:
    stage = next((s for s in cell.stages if s.stage == name), None)
    if stage is None:
        return "-"
    return stage.status.upper() if stage.status in (PASS, SKIP) else f"{stage.status.upper()}: {stage.reason[:80]}"


def upgrade_row(cell: CellResult) -> list[str]:
    local = f"{_stage_text(cell, 'local-serve')} / {_stage_text(cell, 'local-probe')}"
    model_env = f"{_stage_text(cell, 'model-env-serve')} / {_stage_text(cell, 'model-env-probe')}"
    inside = cell.upgrade.get("model_env", {}).get("mlflow")
    if inside:
        model_env += f" (mlflow {inside} inside)"
    migrations = cell.upgrade.get("migrations", [])
    speeds = [f"{s['from']['p95_ms']:.0f} -> {s['to']['p95_ms']:.0f} ms" for s in cell.speed.values() if "from" in s]
    failure = cell.failure()
    verdict = cell.status.upper() + (f" at {failure.stage}" if failure else "")
    return [f"{cell.from_label} -> {cell.label}", cell.usecase, verdict, local, model_env,
            ", ".join(m["probe"] for m in migrations) or "none", "; ".join(speeds) or "-"]  # fmt: skip


MODEL_COLUMNS = ["model", "flavor", "from -> to", "cell", "local / model-env (serve, probe)", "answers equal",
                 "p95 from -> to", "pins proven"]  # fmt: skip


def model_row(cell: CellResult) -> list[str]:
    """One of production's models: who it is, both ways of serving it, whether the answers held, speed, and
    the library pins shown to bring it back when it broke."""
    model = cell.upgrade.get("model") or {}
    ran = {s.stage: s.status.upper() for s in cell.stages}
    ways = [f"{ran.get(f'{b}-serve', '-')}, {ran.get(f'{b}-probe', '-')}" for b in ("local", "model-env")]
    asked = [p for p in cell.probes if p.name.startswith(("local:", "model-env:"))]
    equal = f"{sum(p.status == PASS for p in asked)} of {len(asked)}" if asked else "-"
    speeds = [f"{s['from']['p95_ms']:.0f} -> {s['to']['p95_ms']:.0f} ms" for s in cell.speed.values() if "from" in s]
    failure = cell.failure()
    broke = [s.stage for s in cell.stages if s.status == XFAIL and not s.reason.startswith("not run")]
    verdict = f"FAIL at {failure.stage}" if failure else f"breaks: {', '.join(broke)}" if broke else cell.status.upper()
    best = cell.proven_remedy()
    pins = f"{best['name']}: {', '.join(best['pins'][:4])}{' ...' if len(best['pins']) > 4 else ''}" if best else "-"
    return [model.get("shown") or cell.usecase, cell.flavor or "?", f"{cell.from_label} -> {cell.label}", verdict,
            f"{ways[0]} / {ways[1]}", equal, "; ".join(speeds) or "-", pins]  # fmt: skip


STORE_COLUMNS = kinds.STORE_KINDS  # the store table's columns, in declared order


def store_text(cell: CellResult) -> str:
    """One store check in a word or two: the verdict, what was compared, the migration, the reverse client."""
    failure = cell.failure()
    if failure is not None:
        return f"FAIL {failure.stage}: {failure.reason[:120]}"
    found = cell.upgrade
    parts = []
    if "compared" in found:
        compared = found["compared"]
        parts.append(f"{compared['runs']} runs, {compared['metric points']} points equal")
    migration = found.get("migration") or {}
    if "revision_before" in migration:
        parts.append(f"{migration['revision_before']} -> {migration['revision_after']} in {migration['seconds']:.1f}s")
    elif migration:
        parts.append(f"migrated in {migration['seconds']:.1f}s")
    if "check_upgrade" in found:
        parts.append(f"check-upgrade: {found['check_upgrade']}")
    if "file_store_read" in found and found["file_store_read"] != "yes":
        parts.append("direct read " + found["file_store_read"].removeprefix("yes "))
    known = [s.stage for s in cell.stages if s.status in (XFAIL, XPASS) and s.stage != "new-client"]
    if known:
        parts.append(f"known breaks: {', '.join(known)}")
    reverse = next((s for s in cell.stages if s.stage == "new-client"), None)
    if reverse is not None:
        parts.append(f"new client -> old server: {reverse.status.upper()}")
    return cell.status.upper() + (f" ({'; '.join(parts)})" if parts else "")


def store_table(cells: list[CellResult]) -> list[str]:
    pairs = list(dict.fromkeys((c.from_label, c.label) for c in cells))
    kinds = [k for k in STORE_COLUMNS if any(c.usecase == k for c in cells)]
    kinds += sorted({c.usecase for c in cells} - set(kinds))
    found = {(c.from_label, c.label, c.usecase): c for c in cells}
    rows = [
        [f"{source} -> {target}"]
        + [store_text(found[(source, target, k)]) if (source, target, k) in found else "not asked for" for k in kinds]
        for source, target in pairs
    ]
    return _table(["from -> to", *kinds], rows)


def write(run: Path, cells: list[CellResult], point_latest: bool = True) -> tuple[Path, Path]:
    """Write junit.xml and summary.md into the run folder atomically; point results/latest at it
    when it holds cells (a folder with none, e.g. of a lock session, never becomes `latest`)."""
    xml_path, md_path = run / "junit.xml", run / "summary.md"
    run.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=run, prefix=".junit.", suffix=".tmp")
    os.close(handle)
    try:
        junit(cells).write(temporary, pretty=True)
        write_atomic(xml_path, Path(temporary).read_text())  # through the redaction, like every file we write
    finally:
        Path(temporary).unlink(missing_ok=True)
    write_atomic(md_path, markdown(cells))
    if point_latest and cells:
        _point_latest(run)
    return xml_path, md_path


def _point_latest(run: Path) -> None:
    latest = run.parent.parent / "latest"
    try:
        if latest.is_symlink() or not latest.exists():
            staged = latest.with_name(f".latest.{os.getpid()}")
            staged.unlink(missing_ok=True)
            staged.symlink_to(run.resolve())
            os.replace(staged, latest)  # atomic: readers see the old run or the new one
    except OSError:
        pass
