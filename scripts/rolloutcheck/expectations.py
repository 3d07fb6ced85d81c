"""Expectation files: what a probe must get, keyed by PEP 440 specifiers on the mlflow version.

Each `<probe>.expect.yaml` is a list; the first entry whose `mlflow` specifier contains the
installed version applies. An entry gives `status` (one code or a list), optionally
`predictions: oracle`, `golden` values with `tolerance`, and `xfail: {reason, status}` for a
known break (see probes/README.md).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import yaml
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import Version


class ExpectationError(ValueError):
    pass


@dataclass(frozen=True)
class KnownBreak:
    reason: str
    status: tuple[int, ...] = ()  # empty: any outcome other than the wanted one


@dataclass(frozen=True)
class Expectation:
    mlflow: SpecifierSet
    status: tuple[int, ...]
    oracle: bool = False
    golden: tuple[float, ...] = ()
    tolerance: float = 1e-6
    xfail: KnownBreak | None = None
    source: str = ""
    extra: dict = field(default_factory=dict)


def _codes(value, source: str) -> tuple[int, ...]:
    values = value if isinstance(value, list) else [value]
    try:
        return tuple(int(v) for v in values)
    except (TypeError, ValueError):
        raise ExpectationError(f"{source}: status must be an HTTP code or a list of them") from None


def parse(entries: list, source: str) -> list[Expectation]:
    if not isinstance(entries, list) or not entries:
        raise ExpectationError(f"{source}: must be a non-empty list of entries")
    parsed = []
    for entry in entries:
        try:
            spec = SpecifierSet(str(entry.get("mlflow", "")))
        except (InvalidSpecifier, AttributeError):
            raise ExpectationError(f"{source}: bad mlflow specifier in {entry!r}") from None
        if "status" not in entry:
            raise ExpectationError(f"{source}: entry {entry.get('mlflow')!r} has no status")
        xfail = entry.get("xfail")
        known = None
        if xfail is not None:
            if not isinstance(xfail, dict) or not xfail.get("reason"):
                raise ExpectationError(f"{source}: xfail needs a reason")
            known = KnownBreak(str(xfail["reason"]), _codes(xfail["status"], source) if "status" in xfail else ())
        parsed.append(
            Expectation(
                mlflow=spec,
                status=_codes(entry["status"], source),
                oracle=entry.get("predictions") == "oracle",
                golden=tuple(float(g) for g in entry.get("golden") or ()),
                tolerance=float(entry.get("tolerance", 1e-6)),
                xfail=known,
                source=source,
            )
        )
    return parsed


def load(path: Path) -> list[Expectation]:
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as error:
        raise ExpectationError(f"{path}: cannot be read: {error}") from None
    return parse(data, str(path))


def select(expectations: list[Expectation], version: Version | str) -> Expectation | None:
    version = Version(str(version))
    for expectation in expectations:
        if expectation.mlflow.contains(version, prereleases=True):
            return expectation
    return None
