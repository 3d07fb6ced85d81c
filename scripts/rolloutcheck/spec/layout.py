"""The run folder's layout: every file and folder name of a run, declared once, and reading it back.

A run folder is results/runs/<prefix>-<UTC time>/ (or ROLLOUT_RUN_DIR, shared by the cells of one
`make matrix`); each cell writes <run>/<group>/<usecase>/cell.json and its logs beside it, where
the group is the label (validate) or `<kind>-<label>`. A cell folder that already exists is never
overwritten: a re-run gets `<usecase>.2`, `.3`, ... and the newest attempt is what the cell counts.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

from rolloutcheck.core import procs
from rolloutcheck.core.settings import Settings
from rolloutcheck.spec import kinds, results
from rolloutcheck.spec.results import PASS, CellResult

OWNER_FILE = "owner.json"  # who runs the cell, and the marker its processes carry (procs.py)
CELL_FILE = results.CELL_FILE
SESSIONS_DIR = "sessions"  # nox's own output per cell (a folder of files: never taken for a group of cells)
SELECTION_FILE = "selection.json"  # the labels a run was asked for: report names every missing cell
RUNS_DIR = "runs"  # under the results folder: one folder per run
HISTORY_FILE = "history.json"  # beside the run folders: each run's cell statuses, for reports' history
DETAILS_FILE = "details.js"  # in a cell folder: its details for report.html, loaded when clicked
LATEST = "latest"  # under the results folder: a link to the newest run
STAMP = "%Y%m%dT%H%M%SZ"  # the UTC time in run folder names


def latest_run(settings: Settings) -> Path | None:
    """The newest run that holds cells (`results/latest`, else the newest such folder)."""
    latest = settings.results / LATEST
    if latest.is_dir():
        return latest.resolve()
    runs = [p for p in (settings.results / RUNS_DIR).glob("*/") if any(p.glob(f"*/*/{CELL_FILE}"))]
    return max(runs, key=lambda p: p.stat().st_mtime) if runs else None


def new_run(settings: Settings, prefix: str, shard: str | None = None) -> Path:
    """A fresh run folder name under results/runs: `<prefix>-<UTC time>[-shard-k-of-N]`."""
    stamp = time.strftime(STAMP, time.gmtime())
    suffix = f"-shard-{shard.replace('/', '-of-')}" if shard else ""
    return settings.results / RUNS_DIR / f"{prefix}-{stamp}{suffix}"


def group_dir(kind: str, label: str) -> str:
    """The folder of a run that holds one label's cells of one kind: `<label>` or `upgrade-<label>`."""
    return label if kind == "validate" else f"{kind}-{label}"


def kind_and_label(group: str) -> tuple[str, str]:
    for kind in kinds.KINDS:
        if kind != "validate" and group.startswith(f"{kind}-"):
            return kind, group[len(kind) + 1 :]
    return "validate", group


def new_cell_dir(run: Path, label: str, usecase: str, kind: str = "validate") -> Path:
    """A fresh folder for one attempt of a cell; an existing one is kept and the new one suffixed."""
    base = run / group_dir(kind, label) / usecase
    base.parent.mkdir(parents=True, exist_ok=True)
    for n in range(1, 10_000):
        candidate = base if n == 1 else base.with_name(f"{usecase}.{n}")
        try:
            candidate.mkdir()  # atomic: two processes never get the same folder
            return candidate
        except FileExistsError:
            continue
    raise RuntimeError(f"too many attempts of {label} x {usecase} in {run}")


_ATTEMPT = re.compile(r"^(?P<usecase>.+?)(?:\.(?P<n>\d+))?$")


def attempt_of(folder: Path) -> tuple[str, int]:
    """(use case, attempt number) of a cell folder: `uc` is 1, `uc.2` is 2, `uc.10` is 10."""
    found = _ATTEMPT.match(folder.name)
    return found["usecase"], int(found["n"] or 1)


def natural_key(text: str) -> list:
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", text)]


def owner_alive(cell_dir: Path) -> bool:
    """Whether the process that runs this cell is still running (its result may still come)."""
    try:
        owner = json.loads((cell_dir / OWNER_FILE).read_text())
        return procs.running(int(owner["pid"]), float(owner["create_time"]))
    except (OSError, ValueError, KeyError, TypeError):
        return False


def _load_attempt(folder: Path, group: str, usecase: str) -> CellResult | None:
    kind, label = kind_and_label(group)
    cell_json = folder / CELL_FILE
    if not cell_json.exists():
        if owner_alive(folder):
            return None  # still running (another label's session under make -j2)
        problem = "no cell.json: the cell never finished (killed?)"
        return CellResult(label, usecase, str(folder), problem=problem, kind=kind)
    try:
        return CellResult.from_json(cell_json.read_text())
    except (OSError, ValueError, TypeError, KeyError) as error:
        problem = f"unreadable cell.json: {type(error).__name__}: {error}"
        return CellResult(label, usecase, str(folder), problem=problem, kind=kind)


def flakes(run: Path) -> list[tuple[CellResult, CellResult]]:
    """(an earlier attempt that failed, the newest, which passed) of every cell run again in this run: a failure
    another run did not repeat (ci/matrix.py runs production's failing cells once more)."""
    attempts: dict[tuple[str, str], list[Path]] = {}
    for folder in run.glob("*/*/"):
        if folder.is_dir() and not folder.parent.name.startswith("."):
            attempts.setdefault((folder.parent.name, attempt_of(folder)[0]), []).append(folder)
    found = []
    for (group, usecase), folders in sorted(attempts.items()):
        loaded = [_load_attempt(f, group, usecase) for f in sorted(folders, key=lambda f: attempt_of(f)[1])]
        newest = loaded[-1]
        if len(loaded) > 1 and newest is not None and newest.status == PASS:
            found += [(earlier, newest) for earlier in loaded[:-1] if earlier is not None and earlier.status != PASS]
    return found


def load_cells(run: Path) -> list[CellResult]:
    """The newest attempt of every cell in a run, in natural order; broken results are FAIL cells."""
    newest: dict[tuple[str, str], Path] = {}
    for folder in run.glob("*/*/"):
        if not folder.is_dir() or folder.parent.name.startswith("."):
            continue
        usecase, n = attempt_of(folder)
        key = (folder.parent.name, usecase)
        if key not in newest or n > attempt_of(newest[key])[1]:
            newest[key] = folder
    cells = []
    for (group, usecase), folder in sorted(newest.items(), key=lambda kv: (natural_key(kv[0][0]), kv[0][1])):
        loaded = _load_attempt(folder, group, usecase)
        if loaded is not None:
            cells.append(loaded)
    return cells


def finished_cell(run: Path, kind: str, label: str, usecase: str) -> CellResult | None:
    """The newest attempt of one cell in a run, if it has finished (None: not there, or still running)."""
    attempts = sorted(run.glob(f"{group_dir(kind, label)}/{usecase}*/"), key=lambda f: attempt_of(f)[1])
    attempts = [f for f in attempts if attempt_of(f)[0] == usecase]
    if not attempts or not (attempts[-1] / CELL_FILE).exists():
        return None
    return _load_attempt(attempts[-1], group_dir(kind, label), usecase)


def missing_cells(run: Path, cells: list[CellResult], expected: list[tuple[str, str, str]]) -> list[CellResult]:
    """A FAIL cell for each (kind, label, use case) the selection asked for that reported nothing."""
    present = {(c.kind, c.label, c.usecase) for c in cells}
    problem = "missing: the selection asked for it, no result"
    return [
        CellResult(label, usecase, str(run / group_dir(kind, label) / usecase), problem=problem, kind=kind)
        for kind, label, usecase in expected
        if (kind, label, usecase) not in present
    ]
