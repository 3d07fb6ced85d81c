"""Merge run folders from any number of machines (CI shards, agents) into one new run folder.

Every attempt of every cell is copied (hard-linked where the file system allows) into the new
folder; attempts of the same cell from several inputs are numbered by when they started, so the
results code's rule "the newest attempt counts" picks the newest one. Paths inside cell.json are
rewritten to the copies, so links in the report work wherever the merged folder lives. The inputs
are never changed, and an existing target is refused: no earlier run is overwritten silently.
The selections the inputs recorded are united, so a cell that some shard was asked for and that
never reported is a FAIL of the merged run.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from rolloutcheck.core import atomic
from rolloutcheck.core.errors import Failure
from rolloutcheck.spec import layout
from rolloutcheck.spec.results import CellResult


class MergeError(Failure, RuntimeError):
    pass


def _link_or_copy(source: str, target: str) -> None:
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


def attempts(run: Path) -> list[tuple[str, str, Path, str]]:
    """(group, use case, folder, started) of every attempt of every cell under a run folder, at any
    depth (a CI artifact may keep or drop the group folders): what cell.json says, else the path."""
    folders = {p.parent for name in ("cell.json", layout.OWNER_FILE) for p in run.rglob(name)}
    found = []
    for folder in sorted(folders):
        if any(part.startswith(".") for part in folder.relative_to(run).parts):
            continue
        group, (usecase, _) = folder.parent.name, layout.attempt_of(folder)
        try:
            raw = json.loads((folder / "cell.json").read_text())
            group, usecase = layout.group_dir(raw.get("kind", "validate"), raw["label"]), raw["usecase"]
            started = raw.get("started", "")
        except (OSError, ValueError, KeyError, TypeError):
            started = ""  # unreadable or unfinished: kept, reported as the FAIL it is, oldest
        found.append((group, usecase, folder, started))
    return found


def _rewrite(cell_json: Path, new: Path) -> None:
    """Point the copied result's paths (its folder, its logs) at the copy."""
    try:
        result = CellResult.from_json(cell_json.read_text())
    except (OSError, ValueError, TypeError, KeyError):
        return  # unreadable: load_cells reports it as such
    prefix = str(result.cell_dir)

    def moved(path: str | None) -> str | None:
        return str(new) + path[len(prefix) :] if path and path.startswith(prefix) else path

    result.cell_dir = str(new)
    for stage in result.stages:
        stage.log = moved(stage.log)
    times = cell_json.stat()
    cell_json.unlink()  # a hard link to the input's file: replace it, never write through it
    atomic.write_atomic(cell_json, result.to_json())
    # the same result as before: its details.js (links relative to the cell folder) stays current
    os.utime(cell_json, ns=(times.st_atime_ns, times.st_mtime_ns))


def merge(inputs: list[Path], target: Path) -> list[str]:
    """Copy every cell attempt of `inputs` into the new folder `target`; the united selection."""
    for run in inputs:
        if not run.is_dir():
            raise MergeError(f"{run}: no such run folder")
    if target.exists() and any(target.iterdir()):
        raise MergeError(f"{target} exists and is not empty: merging never overwrites a run")
    everything = sorted(
        (item for run in inputs for item in attempts(run)), key=lambda item: (item[0], item[1], item[3])
    )
    numbers: dict[tuple[str, str], int] = {}
    for group, usecase, folder, _ in everything:
        n = numbers[(group, usecase)] = numbers.get((group, usecase), 0) + 1
        copy = target / group / (usecase if n == 1 else f"{usecase}.{n}")
        shutil.copytree(folder, copy, symlinks=True, copy_function=_link_or_copy)
        if (copy / "cell.json").exists():
            _rewrite(copy / "cell.json", copy)
    selection: list[str] = []
    for run in inputs:
        recorded = run / layout.SELECTION_FILE
        if recorded.is_file():
            selection += json.loads(recorded.read_text()).get("sessions", [])
        sessions = run / layout.SESSIONS_DIR
        if sessions.is_dir():
            shutil.copytree(sessions, target / layout.SESSIONS_DIR, dirs_exist_ok=True, copy_function=_link_or_copy)
    target.mkdir(parents=True, exist_ok=True)
    return list(dict.fromkeys(selection))
