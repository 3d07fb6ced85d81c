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
    """Expected seconds per cell: its median in earlier runs, else the median of every cell seen."""

    def __init__(self, seen: dict[tuple[str, str, str], list[float]]):
        self.seen = seen
        everything = [s for values in seen.values() for s in values]
        self.fallback = statistics.median(everything) if everything else DEFAULT_SECONDS

    def seconds(self, key: tuple[str, str, str]) -> float:
        values = self.seen.get(key)
        return statistics.median(values) if values else self.fallback


def minutes(seconds: float) -> str:
    return f"~{max(1, round(seconds / 60))} min" if seconds >= 60 else f"~{max(0, round(seconds))} s"


class Progress:
    """Thread-safe start/end lines for cells run `jobs` at a time."""

    def __init__(self, keys: Iterable[tuple[str, str, str]], estimate: Estimate, jobs: int, printer: Printer = stderr):
        self.pending = {key: estimate.seconds(key) for key in keys}
        self.guessed = {key for key in self.pending if key not in estimate.seen}  # no earlier run of them
        self.took: list[float] = []  # cells finished in this run: a better guess for the unseen ones
        self.total = len(self.pending)
        self.jobs = max(1, jobs)
        self.started: dict[tuple[str, str, str], float] = {}
        self.launched = 0
        self.done = 0
        self.printer = printer
        self.lock = threading.Lock()

    def left(self) -> float:
        """Seconds left: what the unfinished cells are expected to take, minus what running ones already
        spent, shared among the jobs."""
        now = time.monotonic()
        here = statistics.median(self.took) if self.took else None
        remaining = 0.0
        for key, expected in self.pending.items():
            expected = here if here is not None and key in self.guessed else expected
            remaining += max(expected - (now - self.started[key]), 0.0) if key in self.started else expected
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
            self.took.append(took)
            self.done += 1
            self.printer(
                f"[{self.done}/{self.total}] end {name}: {verdict} in {took:.0f}s ... {minutes(self.left())} left"
            )
