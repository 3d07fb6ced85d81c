"""Files written so that readers see the old file or the new one, never half."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from rolloutcheck.core.secrets import redact


def write_atomic(target: Path, text: str) -> Path:
    """Write `text` to `target` so that readers see the old file or the new one, never half; every
    file the tool writes this way is redacted (no URL password, no credential we were given)."""
    text = redact(text)
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w") as out:
            out.write(text)
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return target


def copy_atomic(source: Path, target: Path) -> Path:
    """Put `source`'s content at `target` the same way (a lock another cell may be reading); copied as is."""
    handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    os.close(handle)
    try:
        shutil.copyfile(source, temporary)
        os.chmod(temporary, 0o644)  # a file of the repository (mkstemp makes it private)
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return target
