"""The run folder's layout: every file and folder name of a run, declared once."""

from __future__ import annotations

import time
from pathlib import Path

from rolloutcheck.core.settings import Settings

SESSIONS_DIR = "sessions"  # nox's own output per cell (a folder of files: never taken for a group of cells)
SELECTION_FILE = "selection.json"  # the labels a run was asked for: report names every missing cell


def latest_run(settings: Settings) -> Path | None:
    """The newest run that holds cells (`results/latest`, else the newest such folder)."""
    latest = settings.results / "latest"
    if latest.is_dir():
        return latest.resolve()
    runs = [p for p in (settings.results / "runs").glob("*/") if any(p.glob("*/*/cell.json"))]
    return max(runs, key=lambda p: p.stat().st_mtime) if runs else None


def new_run(settings: Settings, prefix: str, shard: str | None = None) -> Path:
    """A fresh run folder name under results/runs: `<prefix>-<UTC time>[-shard-k-of-N]`."""
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    suffix = f"-shard-{shard.replace('/', '-of-')}" if shard else ""
    return settings.results / "runs" / f"{prefix}-{stamp}{suffix}"
