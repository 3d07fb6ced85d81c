"""The one error type of preflight: a file in the repository that a cell cannot use."""

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


class ConfigError(ValueError):
    """One line: the file, the key (when there is one) and what is wrong."""

    def __init__(self, file: Path | str, message: str, key: str | None = None):
        self.file, self.key = shown(file), key
        super().__init__(f"{self.file}: " + (f"key {key!r}: " if key else "") + message)


class Failure(RuntimeError):
    """An expected failure: `reason` is one line, the full story is in `log`."""

    def __init__(self, reason: str, log: Path | str | None = None):
        super().__init__(reason)
        self.reason = reason
        self.log = log
