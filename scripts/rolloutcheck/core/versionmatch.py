"""The one rule for matching an mlflow version against version boundaries.

A version is matched on its release: the base version without pre-release, dev, post or local
parts. So `2.0.0rc0` and `2.0.0.dev1` count as 2.0.0 (they carry 2.0's changes: `>=2`, not `<2`),
`3.0.0.dev1` as 3.0.0, and the in-house fork's `1.2.0+sbd.0` as 1.2.0. Plain PEP 440 matching puts
`2.0.0rc0` in neither `<2` nor `>=2`; this rule puts every version on exactly one side of a boundary.

Expectation files (expectations.py), version traits (traits.py) and requirement specifiers
(envspec.py) all use it.
"""

from __future__ import annotations

from packaging.specifiers import SpecifierSet
from packaging.version import Version


def release(version: str | Version) -> Version:
    """The release a version is matched as: `2.0.0rc0` -> 2.0.0, `1.2.0+sbd.0` -> 1.2.0, `3` -> 3.0.0.

    The epoch is kept. Raises packaging's InvalidVersion (a ValueError) for a string that is not PEP 440.
    """
    parsed = version if isinstance(version, Version) else Version(str(version))
    parts = parsed.release + (0,) * (3 - len(parsed.release))
    epoch = f"{parsed.epoch}!" if parsed.epoch else ""
    return Version(epoch + ".".join(map(str, parts)))


def matches(spec: str | SpecifierSet, version: str | Version) -> bool:
    """Whether `version`, taken as its release, satisfies the PEP 440 specifier `spec` (e.g. "<2", ">=1.25,<3").

    Raises InvalidSpecifier / InvalidVersion (both ValueError) for malformed input.
    """
    specifiers = spec if isinstance(spec, SpecifierSet) else SpecifierSet(str(spec))
    return specifiers.contains(release(version), prereleases=True)
