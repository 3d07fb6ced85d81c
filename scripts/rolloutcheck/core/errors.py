"""The one root of the tool's expected failures, and the config error that names a file and a key.

Every error a stage may meet derives from `Failure`; the stage runner turns one raised inside a
stage into that stage's FAIL (or its known break) with the reason and log it carries, so stages
raise their own errors without re-wrapping them. Anything else is a bug: the stage fails with its
traceback in the log."""

from __future__ import annotations

from pathlib import Path

from rolloutcheck.core import paths


def shown(path: Path | str) -> str:
    """A repository path as users see it (relative to the repository when inside it)."""
    path = Path(path)
    try:
        return str(path.resolve().relative_to(paths.ROOT))
    except ValueError:
        return str(path)


class Failure(RuntimeError):
    """An expected failure: `reason` is one line, the full story is in `log` (when there is one). `items`:
    the separate differences it is made of (a store read back with three changes), each of which must be a
    written-down break on its own for the failure to be one."""

    def __init__(self, reason: str = "", log: Path | str | None = None, items: tuple[str, ...] = ()):
        super().__init__(reason)
        self.reason = reason
        self.log = log
        self.items = tuple(items)


class ConfigError(Failure, ValueError):
    """One line: the file, the key (when there is one) and what is wrong."""

    def __init__(self, file: Path | str, message: str, key: str | None = None):
        self.file, self.key = shown(file), key
        super().__init__(f"{self.file}: " + (f"key {key!r}: " if key else "") + message)


class NotChecked(Failure):
    """A check that could not run for a reason outside the version under test (production's own cell of
    the use case fails today): never evidence for GO, never the rollout's failure either."""
