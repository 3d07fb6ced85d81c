"""Aggregating cell results: JUnit XML (one test case per stage and probe) and a Markdown table."""

from __future__ import annotations

from pathlib import Path

from junitparser import Failure, JUnitXml, Skipped, TestCase, TestSuite

from .results import FAIL, SKIP, XFAIL, XPASS, CellResult


def junit(cells: list[CellResult]) -> JUnitXml:
    xml = JUnitXml("rolloutcheck")
    for label in dict.fromkeys(c.label for c in cells):
        suite = TestSuite(f"mlflow {label}")
        for cell in (c for c in cells if c.label == label):
            for stage in cell.stages:
                case = TestCase(stage.stage, classname=f"{label}.{cell.usecase}", time=stage.seconds)
                if stage.status == FAIL:
                    case.result = [Failure(f"{stage.reason} (log: {stage.log})")]
                elif stage.status == SKIP:
                    case.result = [Skipped(stage.reason)]
                suite.add_testcase(case)
            for probe in cell.probes:
                case = TestCase(f"probe {probe.name}", classname=f"{label}.{cell.usecase}", time=probe.seconds)
                if probe.status == FAIL:
                    case.result = [Failure(probe.reason)]
                elif probe.status == XFAIL:
                    case.result = [Skipped(f"XFAIL: {probe.reason}")]  # pytest's convention
                elif probe.status == XPASS:
                    case.system_out = f"XPASS: {probe.reason}"
                suite.add_testcase(case)
        xml.add_testsuite(suite)
    return xml


def cell_text(cell: CellResult) -> str:
    failure = cell.failure()
    if failure is not None:
        return f"FAIL {failure.stage}: {failure.reason}"
    counts = {}
    for probe in cell.probes:
        counts[probe.status] = counts.get(probe.status, 0) + 1
    probes = ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
    flavor = f" [{cell.flavor}]" if cell.flavor else ""
    return f"{cell.status.upper()}{flavor}" + (f" ({probes})" if probes else "")


def markdown(cells: list[CellResult]) -> str:
    labels = list(dict.fromkeys(c.label for c in cells))
    usecases = sorted({c.usecase for c in cells})
    latest = {(c.label, c.usecase): c for c in cells}  # a re-run cell (suffixed folder) wins
    lines = ["| label (mlflow) | " + " | ".join(usecases) + " |", "|---" * (len(usecases) + 1) + "|"]
    for label in labels:
        versions = {c.mlflow_version for c in cells if c.label == label and c.mlflow_version}
        row = [f"{label} ({', '.join(sorted(versions)) or '?'})"]
        row += [cell_text(latest[(label, u)]) if (label, u) in latest else "not run" for u in usecases]
        lines.append("| " + " | ".join(t.replace("|", "\\|") for t in row) + " |")
    notes = []
    for cell in cells:
        where = f"{cell.label} x {cell.usecase}"
        for probe in cell.probes:
            if probe.status in (XFAIL, XPASS, FAIL):
                notes.append(f"- {where}, probe `{probe.name}`: **{probe.status.upper()}** - {probe.reason}")
        failure = cell.failure()
        if failure is not None:
            notes.append(f"- {where}: **FAIL at {failure.stage}** - {failure.reason} (log: {failure.log})")
    if notes:
        lines += ["", "Notes:", *notes]
    return "\n".join(lines) + "\n"


def write(run: Path, cells: list[CellResult]) -> tuple[Path, Path]:
    """Write junit.xml and summary.md into the run folder; point results/latest at it."""
    xml_path, md_path = run / "junit.xml", run / "summary.md"
    junit(cells).write(str(xml_path), pretty=True)
    md_path.write_text(markdown(cells))
    latest = run.parent.parent / "latest"
    try:
        if latest.is_symlink() or not latest.exists():
            latest.unlink(missing_ok=True)
            latest.symlink_to(run.resolve())
    except OSError:
        pass
    return xml_path, md_path
