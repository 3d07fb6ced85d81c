"""A machine-wide readers-writer lock: a speed comparison runs while no other cell's stage does.

Measured on this 2-core machine: the same sklearn pair gave x1.32, x1.60 and x2.14 in three runs, as the
other job of `make rollout JOBS=2` was installing, training or idle; repeats inside one run agreed, runs
did not. So every stage holds the lock shared (`busy`) and a speed comparison holds it alone (`alone`):
it waits for the stages running elsewhere to end and keeps new ones from starting until it is done.

Two files (flock): new stages pass through a gate the waiting comparison holds, so a stream of short
stages cannot starve it. The wait is bounded; past it the comparison runs anyway and says so.
A process killed while holding the lock releases it (the kernel closes its descriptors).
"""

from __future__ import annotations

import fcntl
import os
import tempfile
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path

DIRECTORY = Path(tempfile.gettempdir()) / "rolloutcheck-quiet"  # machine-wide: every clone, every run
POLL = 0.1


@dataclass
class Waited:
    """How a comparison got the machine: alone or not, after how many seconds."""

    alone: bool = False
    seconds: float = 0.0

    def as_dict(self) -> dict:
        return {"alone": self.alone, "waited_s": round(self.seconds, 1)}


class Lock:
    """One process's hold on a lock folder: one shared descriptor while a stage runs (stages do not nest
    across cells). The tool uses one (`DIRECTORY`); the test suite another, for tests that time things."""

    def __init__(self, directory: Path = DIRECTORY) -> None:
        self.shared: int | None = None
        self.directory = directory

    def _open(self, name: str) -> int:
        self.directory.mkdir(parents=True, exist_ok=True)
        return os.open(self.directory / name, os.O_RDWR | os.O_CREAT, 0o666)

    def take_shared(self) -> None:
        gate = self._open("gate")
        try:
            fcntl.flock(gate, fcntl.LOCK_SH)  # waits while a comparison holds the gate
            fd = self._open("machine")
            fcntl.flock(fd, fcntl.LOCK_SH)
            self.shared = fd
        finally:
            os.close(gate)

    def drop_shared(self) -> None:
        if self.shared is not None:
            os.close(self.shared)  # closing releases the flock
            self.shared = None

    @contextmanager
    def busy(self) -> Iterator[None]:
        """A stage's hold: shared with every other stage, never with a comparison. Re-entrant."""
        if self.shared is not None:
            yield
            return
        self.take_shared()
        try:
            yield
        finally:
            self.drop_shared()

    @contextmanager
    def alone(self, max_wait: float) -> Iterator[Waited]:
        """Hold the machine alone for a comparison, waiting at most `max_wait` seconds for the stages
        running elsewhere to end; the caller's own stage gives its hold up meanwhile."""
        own = self.shared is not None
        self.drop_shared()
        waited, started = Waited(), time.monotonic()
        gate, fd = self._open("gate"), self._open("machine")
        try:
            waited.alone = _poll(gate, started, max_wait) and _poll(fd, started, max_wait)
            waited.seconds = time.monotonic() - started
            if not waited.alone:  # measured anyway, said so: let the stages waiting at the gate go on
                fcntl.flock(gate, fcntl.LOCK_UN)
            yield waited
        finally:
            os.close(fd)
            os.close(gate)
            if own:
                self.take_shared()


_LOCK = Lock()


def use(directory: Path) -> None:
    """Another folder for the lock files (tests: a lock of their own)."""
    _LOCK.directory = directory


def busy() -> AbstractContextManager[None]:
    """This process's stage hold on the tool's lock (Lock.busy)."""
    return _LOCK.busy()


def alone(max_wait: float) -> AbstractContextManager[Waited]:
    """This process's comparison hold on the tool's lock (Lock.alone)."""
    return _LOCK.alone(max_wait)


def _poll(fd: int, started: float, max_wait: float) -> bool:
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            if time.monotonic() - started >= max_wait:
                return False
            time.sleep(POLL)
