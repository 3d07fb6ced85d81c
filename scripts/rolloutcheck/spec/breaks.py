"""What a written-down known break describes, and whether a failure is it.

Every known break (probes/*/upgrade.yaml, envs/stores.yaml, an expectation's `xfail:`) carries `seen:`, a
regular expression that the failure's line must match (its reason, or a line of the log the reason was
taken from), and `kind:`, the finding it is (spec/findings.py). A failure at a stage that has written-down
breaks but matches none of them is a break nobody wrote down: never filed under one that was.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from rolloutcheck.spec import findings

UNWRITTEN = "a break not written down"  # an XFAIL's reason starts so: a blocking finding, whatever the stage
LOG_TAIL = 200  # lines of a failure's log read for a pattern (the reason is usually one of them)


class PatternError(ValueError):
    """`seen:` or `kind:` missing or malformed: the message says which (the caller adds file and entry)."""


def pattern(value: object) -> re.Pattern[str]:
    if not isinstance(value, str) or not value.strip():
        raise PatternError("`seen:` is missing: a regular expression the failure's line must match")
    try:
        return re.compile(value)
    except re.error as error:
        raise PatternError(f"`seen:` {value!r} is not a valid regular expression: {error}") from None


def kind(value: object) -> str:
    if value not in findings.WRITABLE:
        raise PatternError(f"`kind:` must be one of {', '.join(findings.WRITABLE)}, got {value!r}")
    return str(value)


@dataclass(frozen=True)
class Described:
    """A written-down break's identity: enough to tell it from any other, stable across runs."""

    source: str  # the file, as the repository names it
    stage: str
    seen: str  # the pattern
    kind: str
    reason: str

    @property
    def key(self) -> str:
        return f"{Path(self.source).as_posix()}|{self.stage}|{self.seen}"

    def as_dict(self) -> dict:
        return {"source": self.source, "stage": self.stage, "seen": self.seen, "kind": self.kind,
                "reason": self.reason}  # fmt: skip


@dataclass(frozen=True)
class Match:
    """What a failure at a stage is: the written-down break it matches, or (`known` None) none of those
    written down for that stage."""

    stage: str
    line: str  # the line seen (the reason, or the log line the pattern matched)
    known: Described | None

    def as_dict(self) -> dict:
        return {"stage": self.stage, "seen": self.line, "entry": self.known.as_dict() if self.known else None}

    @property
    def reason(self) -> str:
        if self.known is None:
            return f"{UNWRITTEN} at {self.stage}: {self.line}"
        return f"{self.known.reason} [{self.known.source}]"


def lines_of(reason: str, log: Path | str | None) -> list[str]:
    """The lines a pattern may match: the reason first, then the end of its log."""
    found = [reason]
    if log:
        try:
            text = Path(log).read_text(errors="replace")
        except OSError:
            text = ""
        found += [line.strip() for line in text.splitlines()[-LOG_TAIL:] if line.strip()]
    return found


def first_match(candidates: Sequence[tuple[re.Pattern[str], Described]], lines: Iterable[str]) -> Match | None:
    """The first candidate whose pattern matches a line (lines in order); None when none matches."""
    lines = list(lines)
    for line in lines:
        for seen, described in candidates:
            if seen.search(line):
                return Match(described.stage, line, described)
    return None


def comparable(line: str) -> str:
    """A failure's line without what changes between two runs of one failure (ports, paths, hex ids); every
    other number kept ("1 of 200 requests failed" is not "187 of 200")."""
    line = re.sub(r"(127\.0\.0\.1|localhost):\d+", r"\1:<port>", line)  # before paths: a URL holds both
    line = re.sub(r"(/[^\s:'\"]+)+", "<path>", line)
    return re.sub(r"\b[0-9a-f]{8,}\b", "<id>", line)[:300]


def same_line(one: str, other: str) -> bool:
    """Whether two failures said the same (comparable lines)."""
    return comparable(one) == comparable(other)
