"""Files written so that readers see the old file or the new one, never half."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from rolloutcheck.core.secrets import redact


@contextmanager
def _replacing(target: Path) -> Iterator[Path]:
    """A scratch file beside `target` to fill, renamed over it when the block ends; removed on failure."""
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    os.close(handle)
    temporary = Path(name)
    try:
        yield temporary
        os.replace(temporary, target)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def write_atomic(target: Path, text: str) -> Path:
    """Write `text` to `target` so that readers see the old file or the new one, never half; every
    file the tool writes this way is redacted (no URL password, no credential we were given)."""
    with _replacing(target) as temporary:
        temporary.write_text(redact(text))
    return target


def copy_atomic(source: Path, target: Path) -> Path:
    """Put `source`'s content at `target` the same way (a lock another cell may be reading); copied as is."""
    with _replacing(target) as temporary:
        shutil.copyfile(source, temporary)
        os.chmod(temporary, 0o644)  # a file of the repository (mkstemp makes it private)
    return target
