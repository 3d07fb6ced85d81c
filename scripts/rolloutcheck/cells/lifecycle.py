"""The lifecycle every cell kind shares: folder, owner, config, its declared steps, cleanup, cell.json, repro.sh.

A kind (cells/validate.py, upgrade.py, storecheck.py) is a class satisfying `KindCell`, registered
in cells/__init__.py; this module runs any of them the same way. Whatever happens (failure,
timeout, Ctrl-C, SIGTERM, SIGHUP) every process the cell started is stopped and cell.json is
written, a second interrupt during that cleanup included.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from rolloutcheck.cells import repro
from rolloutcheck.cells.pipelines import execute
from rolloutcheck.cells.runner import StageRunner
from rolloutcheck.core import procs, secrets
from rolloutcheck.core.atomic import write_atomic
from rolloutcheck.core.settings import Settings
from rolloutcheck.core.steplog import Printer, StepLog, stderr
from rolloutcheck.inputs.preflight import Candidates
from rolloutcheck.inputs.registry import Label
from rolloutcheck.spec import layout
from rolloutcheck.spec.kinds import CONFIG, Kind, Side
from rolloutcheck.spec.results import FAIL, PASS, SKIP, XFAIL, XPASS, CellResult, StageResult


@dataclass(frozen=True)
class CellRequest:
    """What one cell is asked to check: a kind, the label under test and what it is parametrized by."""

    kind: Kind
    label: Label  # the label under test (an upgrade's *to* label)
    variant: str  # the use case, or for a store check the store kind
    settings: Settings
    source: Label | None = None  # the *from* label of upgrade and store cells
    venv: Path | None = None  # the session's environment, paths.cell_venv (none for store and model cells)
    python: str | None = None  # the Python it is made with: the one the project names, or a stand-in
    python_missing: str | None = None  # why the Python the project names is not here (one line)
    printer: Printer = field(default=stderr, compare=False)


@dataclass(frozen=True)
class Started:
    """A cell whose folder exists: where it writes, and the marker its processes carry."""

    request: CellRequest
    result: CellResult
    cell_dir: Path
    marker: str


class KindCell(Protocol):
    """One kind's part of the lifecycle; made once per cell from its `Started` cell."""

    def title(self) -> str: ...  # how the step log names the cell

    def what(self) -> str: ...  # the config stage's one-line description

    def configure(self, record: StageResult) -> None: ...  # check inputs, build contexts (raise Failure)

    def bind(self, side: Side) -> tuple[object, object]: ...  # the (context, state) a side runs with

    def known(self, stage: str) -> Candidates: ...  # a stage's written-down known breaks here

    def cleanup(self) -> None: ...  # stop what the kind's stages started; fill result fields


def start_cell(settings: Settings, label: str, usecase: str, kind: str, printer: Printer) -> tuple[Path, str]:
    """A new cell folder with its logs folder and owner.json (who runs it, its processes' marker)."""
    for line in procs.stop_leftovers():  # of earlier runs that were killed (SIGKILL) before cleaning up
        printer(f"stopped a leftover process of a killed run: {line}")
    cell_dir = layout.new_cell_dir(settings.run_dir, label, usecase, kind)
    (cell_dir / "logs").mkdir()
    marker = procs.new_marker()
    pid, created = procs.owner()
    write_atomic(cell_dir / layout.OWNER_FILE, json.dumps({"pid": pid, "create_time": created, "marker": marker}))
    return cell_dir, marker


def run(request: CellRequest, make: Callable[[Started], KindCell]) -> CellResult:
    """One cell of any kind, end to end; its result is also written to cell.json."""
    kind, label, source = request.kind, request.label, request.source
    cell_dir, marker = start_cell(request.settings, label.name, request.variant, kind.name, request.printer)
    result = CellResult(label=label.name, usecase=request.variant, cell_dir=str(cell_dir), kind=kind.name,
                        from_label=source.name if source else None)  # fmt: skip
    cell = make(Started(request, result, cell_dir, marker))
    breakable = set(kind.breakable()) if kind.breaks_are_findings else set()
    runner = StageRunner(result, StepLog(cell.title(), request.printer), cell_dir / "logs", known=cell.known,
                         finding=breakable.__contains__, fail_fast=request.settings.fail_fast)  # fmt: skip

    def body() -> None:
        if runner.step(CONFIG, cell.what(), cell.configure):
            execute(runner, kind.steps(request.variant), cell.bind)

    guarded(runner, marker, body, cell.cleanup)
    return result


def guarded(runner: StageRunner, marker: str, body: Callable[[], None], cleanup: Callable[[], None]) -> None:
    """Run a cell's stages; whatever happens (failure, bug, Ctrl-C, SIGTERM, SIGHUP) stop every process
    it started and write cell.json, a second interrupt during that cleanup included."""
    interrupted: KeyboardInterrupt | None = None
    try:
        with procs.interrupts_as_keyboard_interrupt():
            body()
    except KeyboardInterrupt as interrupt:
        interrupted = interrupt
        runner.interrupted(interrupt)
    except Exception as error:  # noqa: BLE001 - outside any stage: still a failed stage, never a pass
        runner.crashed(error)
    finally:
        with procs.interrupts_deferred():
            try:
                cleanup()
            finally:
                procs.stop(None, marker)  # anything else the cell started, whatever happened above
                runner.finish()
                runner.result.write()
                write_repro(runner.result)
                secrets.scrub(Path(runner.result.cell_dir))  # what the cell's processes wrote in its logs
    if interrupted is not None:
        raise interrupted


def write_repro(result: CellResult) -> None:
    """repro.sh beside cell.json; a problem making it is logged, never a cell failure."""
    try:
        repro.write(result)
    except Exception as error:  # noqa: BLE001 - a missing helper script must not change the verdict
        log = Path(result.cell_dir) / "logs" / "repro.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        log.write_text(f"repro.sh not written: {type(error).__name__}: {error}\n")


def print_summary(result: CellResult, printer: Printer = stderr) -> None:
    marks = {PASS: "PASS", FAIL: "FAIL", SKIP: "skip", XFAIL: "XFAIL", XPASS: "XPASS"}
    printer(f"== {result.title}: {result.status.upper()} (mlflow {result.mlflow_version})")
    width = max(len(s) for s in result.expected_stages) + 1
    for stage in result.stages:
        printer(f"   {stage.stage:<{width}}{marks[stage.status]:<6}{stage.seconds:>7.1f}s  {stage.reason}")
    for probe_result in result.probes:
        printer(f"   probe {probe_result.name}: {marks[probe_result.status]} - {probe_result.reason}")
    printer(f"   results: {result.cell_dir}")
