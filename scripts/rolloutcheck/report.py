"""Aggregating cell results: JUnit XML (one test case per stage and probe) and a Markdown table."""

from __future__ import annotations

import os
import tempfile
from collections import Counter
from pathlib import Path

from junitparser import Failure, JUnitXml, Skipped, TestCase, TestSuite

from .results import FAIL, SKIP, XFAIL, XPASS, CellResult, natural_key, write_atomic


def junit(cells: list[CellResult]) -> JUnitXml:
    xml = JUnitXml("rolloutcheck")
    for label in dict.fromkeys(c.label for c in cells):
        suite = TestSuite(f"mlflow {label}")
        for cell in (c for c in cells if c.label == label):
            classname = f"{label}.{cell.usecase}"
            if cell.problem:
                case = TestCase("cell", classname=classname)
                case.result = [Failure(f"{cell.problem} ({cell.cell_dir})")]
                suite.add_testcase(case)
            for stage in cell.stages:
                case = TestCase(stage.stage, classname=classname, time=stage.seconds)
                if stage.status == FAIL:
                    case.result = [Failure(f"{stage.reason} (log: {stage.log})")]
                elif stage.status == SKIP:
                    case.result = [Skipped(stage.reason)]
                suite.add_testcase(case)
            for probe in cell.probes:
                case = TestCase(f"probe {probe.name}", classname=classname, time=probe.seconds)
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
    counts = Counter(probe.status for probe in cell.probes)
    probes = ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
    flavor = f" [{cell.flavor}]" if cell.flavor else ""
    return f"{cell.status.upper()}{flavor}" + (f" ({probes})" if probes else "")


def markdown(cells: list[CellResult]) -> str:
    labels = list(dict.fromkeys(c.label for c in cells))
    usecases = sorted({c.usecase for c in cells}, key=natural_key)
    latest = {(c.label, c.usecase): c for c in cells}
    lines = ["| label (mlflow) | " + " | ".join(usecases) + " |", "|---" * (len(usecases) + 1) + "|"]
    for label in labels:
        versions = {c.mlflow_version for c in cells if c.label == label and c.mlflow_version}
        row = [f"{label} ({', '.join(sorted(versions)) or '?'})"]
        row += [cell_text(latest[(label, u)]) if (label, u) in latest else "not asked for" for u in usecases]
        lines.append("| " + " | ".join(t.replace("|", "\\|") for t in row) + " |")
    notes = []
    for cell in cells:
        where = f"{cell.label} x {cell.usecase}"
        for probe in cell.probes:
            if probe.status in (XFAIL, XPASS, FAIL):
                notes.append(f"- {where}, probe `{probe.name}`: **{probe.status.upper()}** - {probe.reason}")
        failure = cell.failure()
        if failure is not None:
            notes.append(
                f"- {where}: **FAIL at {failure.stage}** - {failure.reason} (log: {failure.log or cell.cell_dir})"
            )
    if notes:
        lines += ["", "Notes:", *notes]
    return "\n".join(lines) + "\n"


def write(run: Path, cells: list[CellResult], point_latest: bool = True) -> tuple[Path, Path]:
    """Write junit.xml and summary.md into the run folder atomically; point results/latest at it
    when it holds cells (a folder with none, e.g. of a lock session, never becomes `latest`)."""
    xml_path, md_path = run / "junit.xml", run / "summary.md"
    run.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=run, prefix=".junit.", suffix=".tmp")
    os.close(handle)
    junit(cells).write(temporary, pretty=True)
    os.replace(temporary, xml_path)
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
