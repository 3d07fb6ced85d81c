"""One cell, a (label, use case) pair, end to end: config, lock, env, train, tracking, serve, probe.

The pipeline is the short list in `_pipeline`; each stage is a module in stages/. Whatever
happens (failure, timeout, Ctrl-C, SIGTERM, SIGHUP) every process the cell started is stopped and
cell.json is written, a second interrupt during that cleanup included.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from rolloutcheck.cells import repro
from rolloutcheck.cells.context import CellContext, CellState, StageFailed
from rolloutcheck.cells.runner import StageRunner
from rolloutcheck.cells.stages import env, lock, probe, serve, speed, tracking, train
from rolloutcheck.core import atomic, procs
from rolloutcheck.core.errors import ConfigError
from rolloutcheck.core.settings import Settings
from rolloutcheck.core.steplog import Printer, StepLog, stderr
from rolloutcheck.envs import backends
from rolloutcheck.inputs import preflight
from rolloutcheck.inputs.registry import Label
from rolloutcheck.models import results
from rolloutcheck.models.results import FAIL, PASS, SKIP, XFAIL, XPASS, CellResult


def _pipeline(runner: StageRunner, ctx: CellContext, state: CellState) -> None:
    runner.run(lock, ctx, state)
    runner.run(env, ctx, state)
    runner.run(train, ctx, state)
    runner.start(tracking, ctx, state)  # beside the server's start-up
    runner.run(serve, ctx, state)
    runner.run(tracking, ctx, state)
    runner.run(probe, ctx, state)
    runner.run(speed, ctx, state)


def start_cell(settings: Settings, label: str, usecase: str, kind: str, printer: Printer) -> tuple[Path, str]:
    """A new cell folder with its logs folder and owner.json (who runs it, its processes' marker)."""
    for line in procs.stop_leftovers():  # of earlier runs that were killed (SIGKILL) before cleaning up
        printer(f"stopped a leftover process of a killed run: {line}")
    cell_dir = results.new_cell_dir(settings.run_dir, label, usecase, kind)
    (cell_dir / "logs").mkdir()
    marker = procs.new_marker()
    pid, created = procs.owner()
    atomic.write_atomic(
        cell_dir / results.OWNER_FILE, json.dumps({"pid": pid, "create_time": created, "marker": marker})
    )
    return cell_dir, marker


def run_cell(
    label: Label, usecase: str, venv: Path, settings: Settings, *, python_missing: str | None = None,
    printer: Printer = stderr,
) -> CellResult:  # fmt: skip
    cell_dir, marker = start_cell(settings, label.name, usecase, "validate", printer)
    result = CellResult(label=label.name, usecase=usecase, cell_dir=str(cell_dir))
    runner = StageRunner(result, StepLog(f"{label.name} {usecase}", printer), cell_dir / "logs")
    state = CellState(result)
    ctx: CellContext | None = None

    def configure(record) -> None:
        nonlocal ctx
        try:
            config = preflight.check(label, usecase)
        except ConfigError as error:
            raise StageFailed(str(error)) from None
        ctx = make_context(settings, config, venv, cell_dir, marker, python_missing, result)
        record.reason = f"{len(config.probes)} probes, {result.env_backend or 'no'} backend"

    def body() -> None:
        if runner.step("config", "checking the use case, its probes and the label", configure):
            _pipeline(runner, ctx, state)

    def cleanup() -> None:
        serve.stop(state)
        if ctx is not None:
            tracking.stop(ctx, state)

    guarded(runner, marker, body, cleanup)
    return result


def make_context(
    settings: Settings, config: preflight.CellConfig, venv: Path, cell_dir: Path, marker: str,
    python_missing: str | None, result: CellResult,
) -> CellContext:  # fmt: skip
    """The frozen context of a cell whose inputs passed preflight; the backend choice is recorded."""
    try:
        backend, problem = backends.choose(settings.env_backend, settings.environ), None
    except backends.BackendError as error:
        backend, problem = None, str(error)
    result.env_backend = backend.name if backend else None
    return CellContext(
        config=config, backend=backend, backend_problem=problem, venv=venv, cell_dir=cell_dir, marker=marker,
        timeouts=settings.timeouts, environ=settings.process_environ(), python_missing=python_missing,
        limits=settings.speed, cache=settings.cache,
    )  # fmt: skip


def guarded(runner: StageRunner, marker: str, body: Callable[[], None], cleanup: Callable[[], None]) -> None:
    """Run a cell's stages; whatever happens (failure, bug, Ctrl-C, SIGTERM, SIGHUP) stop every process
    it started and write cell.json, a second interrupt during that cleanup included."""
    interrupted: KeyboardInterrupt | None = None
    try:
        with procs.interrupts_as_keyboard_interrupt():
            body()
    except KeyboardInterrupt as interrupt:
        interrupted = interrupt
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
