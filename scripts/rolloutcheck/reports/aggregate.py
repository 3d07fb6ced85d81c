"""A run's reports from its cells: the cells it was asked for, JUnit, Markdown and HTML, and its table."""

from __future__ import annotations

import json
from pathlib import Path

from rolloutcheck.core import atomic, paths
from rolloutcheck.inputs import usecases
from rolloutcheck.inputs.stores import store_kinds
from rolloutcheck.reports import html as htmlreport
from rolloutcheck.reports import summary as report
from rolloutcheck.spec import layout
from rolloutcheck.spec.layout import SELECTION_FILE
from rolloutcheck.spec.results import CellResult
from rolloutcheck.stores import trained


def selection_cells(selection: list[str]) -> list[tuple[str, str, str]]:
    """(kind, label, use case) for each selected session name: `validate-L`, `upgrade-L`, or a bare
    label (meaning `validate-L`) stand for every use case folder; `validate-L(U)` for one cell."""
    cells = []
    for name in selection:
        name, _, one = name.partition("(")
        kind, label = layout.kind_and_label(name.removeprefix("validate-"))
        names = (
            {"store-upgrade": store_kinds(), "models": []}.get(kind) if kind != "validate" else None
        )  # models: ids only
        names = usecases.names() if names is None else names
        cells += [(kind, label, usecase) for usecase in ([one.rstrip(")")] if one else names)]
    return list(dict.fromkeys(cells))


def expected_cells(run: Path, selection: list[str] | None) -> list[tuple[str, str, str]]:
    """The cells a run was asked for: the selection given (then recorded in the run), else the recorded one."""
    recorded = run / SELECTION_FILE
    if selection:
        atomic.write_atomic(recorded, json.dumps({"sessions": selection, "usecases": usecases.names()}, indent=2))
    elif recorded.is_file():
        selection = json.loads(recorded.read_text())["sessions"]
    return selection_cells(selection or [])


def run_cells(run: Path, selection: list[str] | None = None) -> list[CellResult]:
    """The cells of a run, and a FAIL cell for each the selection (given, or recorded) asked for that never reported."""
    cells = layout.load_cells(run)
    return cells + layout.missing_cells(run, cells, expected_cells(run, selection))


def summarize(
    run: Path, label: str | None = None, selection: list[str] | None = None, kind: str = "validate"
) -> tuple[str, list[CellResult]]:
    """Write the run's JUnit XML and Markdown; the table (for `label` and `kind`, or all) and its cells.
    Cells the selection (session names, or those recorded in the run) asked for but that never
    reported are FAIL cells named in the table."""
    cells = run_cells(run, selection) if label is None else layout.load_cells(run)
    xml, md = report.write(run, cells)
    html = htmlreport.write(run, cells)
    shown_cells = [c for c in cells if label is None or (c.label == label and c.kind == kind)]
    cache = (
        f"{trained.footer(run.parent.parent / paths.MODEL_CACHE_DIR)}\n" if run.parent.name == layout.RUNS_DIR else ""
    )
    return f"{report.markdown(shown_cells)}\n{cache}JUnit: {xml}\nTable: {md}\nHTML report: {html}\n", shown_cells
