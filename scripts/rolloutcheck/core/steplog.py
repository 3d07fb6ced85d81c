"""A step logger: one line when a stage starts, one when it ends, with its time."""

from __future__ import annotations

import re
import sys
import time
from collections.abc import Callable

from rolloutcheck.core.secrets import redact

Printer = Callable[[str], None]


def stderr(message: str) -> None:
    print(redact(message), file=sys.stderr, flush=True)


class StepLog:
    def __init__(self, prefix: str, printer: Printer = stderr):
        self.prefix = prefix
        self.printer = printer

    def begin(self, stage: str, what: str = "") -> float:
        self.printer(f"[{self.prefix}] {stage}: {what}".rstrip(": "))
        return time.monotonic()

    def end(self, stage: str, started: float, status: str, reason: str = "") -> float:
        seconds = time.monotonic() - started
        tail = f" - {reason}" if reason else ""
        self.printer(f"[{self.prefix}] {stage}: {status.upper()} in {seconds:.1f}s{tail}")
        return seconds


GENERIC = re.compile(r"non zero return code|Non-zero exit code|ShellCommandException")


def last_error_line(text: str) -> str:
    """The line that says why: the last exception raised, preferring the cause over mlflow's generic
    "Command ... returned non zero return code" wrapper."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    errors = [line for line in lines if re.search(r"(Error|Exception|error:)", line)]
    causes = [line for line in errors if re.match(r"^[\w.]*(Error|Exception)\b", line) and not GENERIC.search(line)]
    return (causes or errors or lines or ["no output"])[-1][:300]
