"""Run a list of cells, each as its own `nox -s "<kind>-L(U)"`, into one shared run folder.

This is what `make matrix` (and `make matrix SHARD=k/N` on one of N machines) does: every cell's
nox output goes to `<run>/sessions/<cell>.log`, the terminal gets one progress line per cell start
and end, and the run ends with the table, JUnit and the HTML report. Exit codes are kept: a cell
whose nox failed or that never reported fails the matrix.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from rolloutcheck.ci.progress import Estimate, Progress, history
from rolloutcheck.ci.selection import Cell
from rolloutcheck.core import procs
from rolloutcheck.core.settings import NO_BYTECODE
from rolloutcheck.core.steplog import Printer, stderr
from rolloutcheck.reports import aggregate
from rolloutcheck.spec import layout
from rolloutcheck.spec.results import BAD_INPUT, NOT_CHECKED


def run_matrix(
    cells: list[Cell], run: Path, nox: list[str], jobs: int = 1, printer: Printer = stderr,
    again: Callable[[Cell], bool] = lambda cell: False,
) -> tuple[int, str]:  # fmt: skip
    """Run `cells` `jobs` at a time; (exit code, where the HTML report is). A cell `again` names that failed is
    run once more before it counts (production's own cells in a rollout: a flake is said, never used); its
    first attempt stays in the run, the newest counts (spec/layout.py)."""
    run.mkdir(parents=True, exist_ok=True)
    aggregate.expected_cells(run, [c.session for c in cells])  # recorded first: a killed matrix still names them
    logs = run / layout.SESSIONS_DIR
    logs.mkdir(exist_ok=True)
    progress = Progress([c.key for c in cells], Estimate(history(run.parent, exclude=run)), jobs, printer)
    # NOX_SCRIPT_MODE=none is what nox's script mode gave *this* process: a cell's nox (make's) must
    # enter the tool's environment itself; with NO_BYTECODE each cell's nox compiles the tool's modules again
    environ = {**{k: v for k, v in os.environ.items() if k not in ("NOX_SCRIPT_MODE", NO_BYTECODE)},
               "ROLLOUT_RUN_DIR": str(run)}  # fmt: skip

    running: dict[str, subprocess.Popen] = {}
    stopping = threading.Event()

    def attempt(cell: Cell) -> int:
        with (logs / f"{cell.slug}.log").open("ab") as out:
            proc = running[cell.session] = subprocess.Popen(
                [*nox, "-s", cell.session], stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=environ
            )
            if stopping.is_set():  # started just as the matrix was stopped
                proc.send_signal(signal.SIGTERM)
            code = proc.wait()
            running.pop(cell.session, None)
        return code

    def one(cell: Cell) -> int:
        if stopping.is_set():
            return 1
        progress.start(cell.key, cell.session)
        code = attempt(cell)
        said = verdict(run, cell, code)
        if said.startswith("FAIL") and again(cell) and not stopping.is_set() and _may_flake(run, cell):
            printer(f"{cell.session}: {said}; run once more before it counts (the first attempt is kept)")
            code = attempt(cell)
            said = verdict(run, cell, code)
        progress.end(cell.key, cell.session, said)
        return code

    pool = ThreadPoolExecutor(max_workers=max(1, jobs))
    try:
        with procs.interrupts_as_keyboard_interrupt():  # SIGTERM/SIGHUP stop the matrix like Ctrl-C
            codes = [future.result() for future in [pool.submit(one, c) for c in cells]]
    except KeyboardInterrupt:
        # no new cell starts; running ones stop the way a cell stops (cleanup, cell.json), then the
        # table still names every cell that did not report
        stopping.set()
        pool.shutdown(wait=False, cancel_futures=True)
        for proc in list(running.values()):
            proc.send_signal(signal.SIGTERM)
        with procs.interrupts_deferred():
            pool.shutdown(wait=True)
            print(aggregate.summarize(run)[0], flush=True)
        raise
    pool.shutdown()
    text, reported = aggregate.summarize(run)
    print(text, flush=True)  # the table on stdout, like `nox -s report`; progress went to the printer
    failed = [c for c in reported if c.status != "pass"]
    html = run / "report.html"
    if failed or any(codes):
        printer(f"{len(failed)} of {len(reported)} cells failed or never reported; "
                f"{sum(1 for c in codes if c)} nox session(s) exited non-zero")  # fmt: skip
        return 1, str(html)
    return 0, str(html)


def _may_flake(run: Path, cell: Cell) -> bool:
    """A failure another run could clear: not a bad file of the repository, not a check this machine cannot run."""
    found = [c for c in layout.load_cells(run) if (c.kind, c.label, c.usecase) == cell.key]
    failure = found[-1].failure() if found else None
    return failure is None or not (failure.details.get(BAD_INPUT) or failure.details.get(NOT_CHECKED))


def verdict(run: Path, cell: Cell, code: int) -> str:
    """The cell's status as its newest attempt in the run reports it, or why there is none."""
    found = [c for c in layout.load_cells(run) if (c.kind, c.label, c.usecase) == cell.key]
    if not found:
        return f"no result (nox exited {code})"
    failure = found[-1].failure()
    return "PASS" if failure is None else f"FAIL at {failure.stage}: {failure.reason[:120]}"
