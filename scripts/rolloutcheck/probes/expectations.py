"""Expectation files: what a probe must get, keyed by PEP 440 specifiers on the mlflow version.

Each `<probe>.expect.yaml` is a list; the first entry whose `mlflow` specifier matches the
installed version (on its release, see versionmatch.py) applies. An entry gives `status` (one code
or a list), optionally `predictions: oracle`, `golden` values with `tolerance`, and
`xfail: {reason, seen, status, kind}` for a known break (`seen`: what the answer must match). The
schema is strict: an unknown key or a value of the wrong kind is an ExpectationError whose one-line
message starts with the file (see probes/README.md).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import InvalidVersion, Version

from rolloutcheck.core import versionmatch
from rolloutcheck.core.errors import Failure
from rolloutcheck.spec import breaks, findings

ENTRY_KEYS = ("mlflow", "status", "predictions", "golden", "tolerance", "xfail")
XFAIL_KEYS = ("reason", "status", "seen", "kind")
DEFAULT_TOLERANCE = 1e-6


class ExpectationError(Failure, ValueError):
    pass


@dataclass(frozen=True)
class KnownBreak:
    reason: str
    status: tuple[int, ...] = ()  # empty: any outcome other than the wanted one
    seen: re.Pattern[str] | None = None  # what the answer (`HTTP <status>: <body>`) must match to be this break
    kind: str = findings.CLIENT_REQUEST.key
    source: str = ""

    def describes(self, line: str) -> bool:
        return self.seen is not None and self.seen.search(line) is not None

    def as_dict(self) -> dict:
        return {"source": self.source, "stage": "probe", "seen": self.seen.pattern if self.seen else "",
                "kind": self.kind, "reason": self.reason}  # fmt: skip


@dataclass(frozen=True)
class Expectation:
    mlflow: SpecifierSet
    status: tuple[int, ...]
    oracle: bool = False
    golden: tuple[float, ...] | tuple[str, ...] = ()  # numbers, or class labels
    tolerance: float = DEFAULT_TOLERANCE
    xfail: KnownBreak | None = None
    source: str = ""
    extra: dict = field(default_factory=dict)


def _is_number(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _show(value, limit: int = 80) -> str:
    """A short one-line repr of a value from the file, for messages."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _codes(value, where: str) -> tuple[int, ...]:
    values = value if isinstance(value, list) else [value]
    if not values or not all(isinstance(v, int) and not isinstance(v, bool) and 100 <= v <= 599 for v in values):
        raise ExpectationError(f"{where}: status must be an HTTP code or a non-empty list of them, got {_show(value)}")
    return tuple(values)


def _unknown_keys(mapping: dict, known: tuple[str, ...], where: str) -> None:
    unknown = [key for key in mapping if key not in known]
    if unknown:
        raise ExpectationError(f"{where}: unknown key {_show(unknown[0])}; known keys: {', '.join(known)}")


def _specifier(entry: dict, where: str) -> SpecifierSet:
    if "mlflow" not in entry:
        raise ExpectationError(f"{where}: no mlflow specifier (write e.g. '>=2'; '>=0' matches every version)")
    text = entry["mlflow"]
    if not isinstance(text, str) or not text.strip():
        raise ExpectationError(f"{where}: bad mlflow specifier {_show(text)}: must be a non-empty PEP 440 specifier")
    try:
        spec = SpecifierSet(text)
    except InvalidSpecifier:
        raise ExpectationError(f"{where}: bad mlflow specifier {_show(text)}: not a PEP 440 specifier") from None
    for one in spec:
        try:
            bound = Version(one.version.removesuffix(".*"))
        except InvalidVersion:  # `===` arbitrary strings
            continue
        if bound.is_prerelease or bound.is_postrelease or bound.local:
            raise ExpectationError(
                f"{where}: bad mlflow specifier {_show(text)}: {one} names a pre/dev/post/local version, but versions "
                f"are matched on their release (2.0.0rc0 counts as 2.0.0): use release versions only"
            )
    return spec


def _golden(value, where: str) -> tuple[float, ...] | tuple[str, ...]:
    if isinstance(value, list) and value and all(_is_number(v) for v in value):
        if any(math.isnan(v) for v in value):
            raise ExpectationError(f"{where}: golden holds NaN, which never compares equal")
        return tuple(float(v) for v in value)
    if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise ExpectationError(
        f"{where}: golden must be a non-empty list of numbers or a non-empty list of strings (class labels), "
        f"got {_show(value)}"
    )


def _tolerance(value, where: str) -> float:
    if not _is_number(value) or not value >= 0 or math.isinf(value):
        raise ExpectationError(f"{where}: tolerance must be a non-negative number, got {_show(value)}")
    return float(value)


def _xfail(value, where: str, source: str) -> KnownBreak:
    where = f"{where} xfail"
    if not isinstance(value, dict):
        raise ExpectationError(f"{where}: must be a mapping with a reason (and optionally status), got {_show(value)}")
    _unknown_keys(value, XFAIL_KEYS, where)
    reason = value.get("reason")
    if not isinstance(reason, str) or not reason.strip():
        raise ExpectationError(f"{where}: needs a reason (a non-empty string)")
    try:
        seen = breaks.pattern(value.get("seen"))
        kind = breaks.kind(value.get("kind", findings.CLIENT_REQUEST.key))
    except breaks.PatternError as error:
        raise ExpectationError(f"{where}: {error}") from None
    return KnownBreak(reason, _codes(value["status"], where) if "status" in value else (), seen, kind, source)


def _entry(entry, number: int, source: str) -> Expectation:
    if not isinstance(entry, dict):
        raise ExpectationError(
            f"{source}: entry {number} is not a mapping (got {type(entry).__name__} {_show(entry)}); "
            f"each entry needs at least `mlflow` and `status`"
        )
    where = f"{source}: entry {number}" + (f" (mlflow {_show(entry['mlflow'])})" if "mlflow" in entry else "")
    _unknown_keys(entry, ENTRY_KEYS, where)
    spec = _specifier(entry, where)
    if "status" not in entry:
        raise ExpectationError(f"{where}: has no status")
    if "predictions" in entry and entry["predictions"] != "oracle":
        raise ExpectationError(f"{where}: predictions can only be 'oracle', got {_show(entry['predictions'])}")
    return Expectation(
        mlflow=spec,
        status=_codes(entry["status"], where),
        oracle="predictions" in entry,
        golden=_golden(entry["golden"], where) if "golden" in entry else (),
        tolerance=_tolerance(entry["tolerance"], where) if "tolerance" in entry else DEFAULT_TOLERANCE,
        xfail=_xfail(entry["xfail"], where, source) if "xfail" in entry else None,
        source=source,
    )


def parse(entries, source: str) -> list[Expectation]:
    """The entries of one expectation file, checked; ExpectationError (one line, starting with `source`) if not."""
    if not isinstance(entries, list) or not entries:
        raise ExpectationError(f"{source}: must be a non-empty list of entries, got {type(entries).__name__}")
    return [_entry(entry, number, source) for number, entry in enumerate(entries, start=1)]


def load(path: Path) -> list[Expectation]:
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as error:
        reason = " ".join(str(error).split())  # YAML errors span lines: keep the message on one
        raise ExpectationError(f"{path}: cannot be read: {reason}") from None
    return parse(data, str(path))


def select(expectations: list[Expectation], version: Version | str) -> Expectation | None:
    """The first entry whose specifier matches `version` on its release (versionmatch.matches)."""
    for expectation in expectations:
        if versionmatch.matches(expectation.mlflow, version):
            return expectation
    return None
