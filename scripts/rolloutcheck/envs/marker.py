"""The marker inside a built environment that says which lock it holds.

Both backends build an environment from a lock file (uv: a virtualenv, conda: a prefix) and
write the sha256 of that lock into the environment when the install finished. An unchanged lock
finds its marker and reuses the environment; an install that starts clears the marker first, so
an environment left half-built is never taken for a finished one.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from pathlib import Path

MARK = "rolloutcheck-lock.sha256"


def lock_digest(lock: Path) -> str:
    return hashlib.sha256(lock.read_bytes()).hexdigest()


def is_current(prefix: Path, lock: Path) -> bool:
    """Whether `prefix` was last built, completely, from exactly this lock's content."""
    mark = prefix / MARK
    try:
        return mark.read_text().strip() == lock_digest(lock)
    except FileNotFoundError:
        return False


def clear(prefix: Path) -> None:
    (prefix / MARK).unlink(missing_ok=True)


def record(prefix: Path, lock: Path) -> None:
    """Mark `prefix` as holding `lock`: written to a temporary file, then renamed over the marker."""
    temporary = prefix / f".{MARK}.{uuid.uuid4().hex}.tmp"
    try:
        temporary.write_text(lock_digest(lock) + "\n")
        os.replace(temporary, prefix / MARK)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
