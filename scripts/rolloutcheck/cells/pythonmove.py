"""python-move: a project whose Python the new mlflow does not support (its lock is unresolvable:
"mlflow==3.17.2 depends on Python>=3.10") is tried on the lowest supported Python this machine has,
as a validate cell of its own: a copy of the use case whose usecase.yaml has the one line a team would
add (`python_by_mlflow: {">=3": "3.10"}`), in a scratch folder inside the cell's (its lock goes there,
never into envs/). Proven when that cell passes (train, tracking, serve, probes); the outcome is
recorded in the failed cell's `upgrade.python_move` for the decision (reports/remedies.py).
"""

from __future__ import annotations

import dataclasses
import re
import shutil
from collections.abc import Callable
from pathlib import Path

import yaml

from rolloutcheck.cells.lifecycle import CellRequest
from rolloutcheck.core import paths
from rolloutcheck.envs import interpreter
from rolloutcheck.inputs.requirements import mlflow_version_of
from rolloutcheck.spec.results import FAIL, PASS, CellResult

NEEDS = re.compile(r"depends on Python\s*>=\s*(\d+)\.(\d+)")
HIGHEST_MINOR = 14  # the newest 3.x looked for
FOLDER = "python-move"  # in the failed cell's folder: the amended copy and the remedy cell's run
PROVEN, STILL_FAILS, NO_PYTHON = "proven", "still fails", "no python"


def needed_python(result: CellResult) -> tuple[int, int] | None:
    """The lowest Python the label's mlflow supports, when the cell's lock failed for want of it."""
    lock = next((s for s in result.stages if s.stage == "lock"), None)
    found = NEEDS.search(lock.reason) if lock is not None and lock.status == FAIL else None
    return (int(found[1]), int(found[2])) if found else None


def lowest_python(major: int, minor: int) -> tuple[str, interpreter.Found] | None:
    """The lowest `major.minor` and up that this machine has (the interpreter search of the env stage)."""
    for candidate in range(minor, HIGHEST_MINOR + 1):
        found = interpreter.find(f"{major}.{candidate}")
        if found.missing is None:
            return f"{major}.{candidate}", found
    return None


def amended_copy(usecase: str, root: Path, name: str, specifier: str, python: str) -> None:
    """The use case under `root` as `name`, with `python_by_mlflow` naming `python` first for `specifier`."""
    shutil.copytree(paths.usecase_dir(usecase), root / "usecases" / name)
    if paths.probes_dir(usecase).is_dir():
        shutil.copytree(paths.probes_dir(usecase), root / "probes" / name)
    (root / "envs").mkdir(parents=True, exist_ok=True)
    spec_file = root / "usecases" / name / "usecase.yaml"
    spec = yaml.safe_load(spec_file.read_text()) or {}
    spec["python_by_mlflow"] = {specifier: python, **(spec.get("python_by_mlflow") or {})}
    spec_file.write_text(yaml.safe_dump(spec, sort_keys=False))


def prove(request: CellRequest, result: CellResult, run: Callable[[CellRequest], CellResult]) -> dict | None:
    """Try the move when the cell failed for want of a newer Python; record and return its outcome."""
    needed = needed_python(result)
    if needed is None or request.kind.name != "validate":
        return None
    version = mlflow_version_of(request.label.mlflow)
    specifier = f">={version.major}" if version is not None else f">={request.label.name}"
    picked = lowest_python(*needed)
    if picked is None:
        move = {"outcome": NO_PYTHON, "python": f"{needed[0]}.{needed[1]}",
                "reason": f"no Python {needed[0]}.{needed[1]} or newer on this machine"}  # fmt: skip
    else:
        python, found = picked
        line = f'python_by_mlflow: {{"{specifier}": "{python}"}}'
        root = Path(result.cell_dir) / FOLDER
        name = f"{request.variant}-py{python.replace('.', '')}"
        amended_copy(request.variant, root, name, specifier, python)
        with paths.scratch_root(root):
            moved = run(dataclasses.replace(
                request, variant=name, settings=dataclasses.replace(request.settings, run_dir=root / "run"),
                venv=paths.cell_venv("validate", request.label.name, name), python=found.python, python_missing=None,
            ))  # fmt: skip
        spec = paths.usecase_dir(request.variant) / "usecase.yaml"
        move = {"outcome": PROVEN if moved.status == PASS else STILL_FAILS, "python": python, "line": line,
                "cell": moved.cell_dir, "file": str(spec.relative_to(paths.ROOT) if spec.is_relative_to(paths.ROOT)
                                                     else spec)}  # fmt: skip
        if moved.status == PASS:
            move["proof"] = (f"validate-{request.label.name}({name}), the project with that line, passed on "
                             f"Python {python}: {', '.join(s.stage for s in moved.stages)}")  # fmt: skip
        else:
            failed = moved.failure()
            move["reason"] = f"{failed.stage}: {failed.reason[:200]}" if failed else "a probe failed"
    result.upgrade["python_move"] = move
    result.write()
    return move
