"""envs/rollout.yaml: a team's word on findings it accepts (by id, who, why, optionally until when).

    accept:
      - id: F-3f2a9c1d0b
        by: platform-team@example.com
        why: every client moves to the dataframe_split request in the same release
        until: 2027-03-31        # optional: after this date the acceptance lapses

Validated once; unknown keys are refused with one line naming the file and the key.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import yaml

from rolloutcheck.core import paths
from rolloutcheck.core.errors import ConfigError

ROLLOUT_FILE = paths.ENVS / "rollout.yaml"
KEYS = ("id", "by", "why", "until")


@dataclass(frozen=True)
class Acceptance:
    id: str
    by: str
    why: str
    until: dt.date | None = None

    def lapsed(self, today: dt.date) -> bool:
        return self.until is not None and today > self.until


def load(path: Path = ROLLOUT_FILE) -> tuple[Acceptance, ...]:
    """The acceptances of `path` (none when it does not exist); ConfigError when it is malformed."""
    if not path.exists():
        return ()
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as error:
        raise ConfigError(path, f"not valid YAML: {str(error).splitlines()[0]}") from None
    if not isinstance(raw, dict) or set(raw) - {"accept"}:
        raise ConfigError(path, "must be a mapping with only `accept:`", next(iter(set(raw) - {"accept"}), None)
                          if isinstance(raw, dict) else None)  # fmt: skip
    entries = raw.get("accept") or []
    if not isinstance(entries, list):
        raise ConfigError(path, "must be a list of {id, by, why[, until]}", "accept")
    found = []
    for n, entry in enumerate(entries):
        where = f"accept[{n}]"
        if not isinstance(entry, dict):
            raise ConfigError(path, "must be a mapping with id, by, why[, until]", where)
        unknown = sorted(set(entry) - set(KEYS))
        if unknown:
            raise ConfigError(path, f"unknown key(s) {unknown}; known: {', '.join(KEYS)}", f"{where}.{unknown[0]}")
        for key in ("id", "by", "why"):
            if not isinstance(entry.get(key), str) or not entry[key].strip():
                raise ConfigError(path, "missing or empty: say which finding, who accepts it and why", f"{where}.{key}")
        until = entry.get("until")
        if until is not None and not isinstance(until, dt.date):
            try:
                until = dt.date.fromisoformat(str(until))
            except ValueError:
                raise ConfigError(path, f"{until!r} is not a date (YYYY-MM-DD)", f"{where}.until") from None
        found.append(Acceptance(entry["id"].strip(), entry["by"].strip(), entry["why"].strip(), until))
    return tuple(found)
