"""Progress of a matrix: one line per cell start and end, with done/total and the time left,
estimated from how long the same cells took in earlier runs kept under results/runs/."""

from __future__ import annotations

import statistics
import threading
import time
from collections.abc import Iterable
from pathlib import Path

from rolloutcheck.core.steplog import Printer, stderr
from rolloutcheck.spec.kinds import KINDS
from rolloutcheck.spec.results import CellResult

DEFAULT_SECONDS = 90.0  # a warm cell, when no earlier run says better
# A cell of a kind nobody has timed here yet, cold (environments made): measured on this 2-core machine, a
# fresh clone's `make rollout LABEL=3.17.2` (validate 35-60 s, upgrade 100-150 s with the pin remedies).
KIND_SECONDS = {"validate": 50.0, "upgrade": 120.0, "store-upgrade": 60.0, "models": 90.0}
OVERDUE = 0.25  # a cell already past its estimate still has this share of it to go (it is not done)


def cell_seconds(result: CellResult) -> float:
    return sum(stage.seconds for stage in result.stages)


def history(runs: Path, exclude: Path | None = None) -> dict[tuple[str, str, str], list[float]]:
    """Seconds each (kind, label, use case) took in earlier runs (every attempt that ran a stage)."""
    seen: dict[tuple[str, str, str], list[float]] = {}
    for cell_json in runs.glob("*/*/*/cell.json"):
        if exclude is not None and cell_json.parents[2].resolve() == exclude.resolve():
            continue
        try:
            result = CellResult.from_json(cell_json.read_text())
        except (OSError, ValueError, TypeError, KeyError):
            continue  # a broken result says nothing about time
        if result.stages and result.kind in KINDS:
            seen.setdefault((result.kind, result.label, result.usecase), []).append(cell_seconds(result))
    return seen


class Estimate:
    """Expected seconds per cell: its median in earlier runs, else the median of the cells of its kind seen,
    else its kind's prior (KIND_SECONDS): an upgrade cell takes three validate cells' time."""

    def __init__(self, seen: dict[tuple[str, str, str], list[float]]):
        self.seen = seen
        self.by_kind: dict[str, list[float]] = {}
        for (kind, _, _), values in seen.items():
            self.by_kind.setdefault(kind, []).extend(values)

    def seconds(self, key: tuple[str, str, str]) -> float:
        values = self.seen.get(key) or self.by_kind.get(key[0])
        return statistics.median(values) if values else KIND_SECONDS.get(key[0], DEFAULT_SECONDS)


def minutes(seconds: float) -> str:
    return f"~{max(1, round(seconds / 60))} min" if seconds >= 60 else f"~{max(0, round(seconds))} s"


class Progress:
    """Thread-safe start/end lines for cells run `jobs` at a time."""

    def __init__(self, keys: Iterable[tuple[str, str, str]], estimate: Estimate, jobs: int, printer: Printer = stderr):
        self.pending = {key: estimate.seconds(key) for key in keys}
        self.guessed = {key for key in self.pending if key not in estimate.seen}  # no earlier run of them
        self.took: dict[str, list[float]] = {}  # kind -> cells finished in this run: a better guess for unseen ones
        self.total = len(self.pending)
        self.jobs = max(1, jobs)
        self.started: dict[tuple[str, str, str], float] = {}
        self.launched = 0
        self.done = 0
        self.printer = printer
        self.lock = threading.Lock()

    def left(self) -> float:
        """Seconds left: what the unfinished cells are expected to take (an unseen one: its kind's cells of
        this run), minus what running ones already spent (one past its estimate: OVERDUE of it to go),
        shared among the jobs."""
        now = time.monotonic()
        remaining = 0.0
        for key, expected in self.pending.items():
            here = self.took.get(key[0])
            expected = statistics.median(here) if here and key in self.guessed else expected
            if key in self.started:
                remaining += max(expected - (now - self.started[key]), expected * OVERDUE)
            else:
                remaining += expected
        return remaining / self.jobs

    def start(self, key: tuple[str, str, str], name: str) -> None:
        with self.lock:
            self.started[key] = time.monotonic()
            self.launched += 1
            self.printer(f"[{self.launched}/{self.total}] start {name} ... {minutes(self.left())} left")

    def end(self, key: tuple[str, str, str], name: str, verdict: str) -> None:
        with self.lock:
            took = time.monotonic() - self.started.pop(key, time.monotonic())
            self.pending.pop(key, None)
            self.took.setdefault(key[0], []).append(took)
            self.done += 1
            self.printer(
                f"[{self.done}/{self.total}] end {name}: {verdict} in {took:.0f}s ... {minutes(self.left())} left"
            )
