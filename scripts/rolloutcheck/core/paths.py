"""Where things live in the repository: one place, so the layout stays visible.

Only locations fixed by the repository itself are here; anything a user can change (results
folder, run folder, registry override) is a setting (settings.py), resolved once.
"""

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1]  # scripts/rolloutcheck
ROOT = PACKAGE.parents[1]
ENVS = ROOT / "envs"  # version registry, conda->PyPI names, locks per cell
USECASES = ROOT / "usecases"  # one MLflow Project per folder
PROBES = ROOT / "probes"  # stored curl requests and their expectations, per use case
PROBE_DEFAULTS = PROBES / "_defaults"  # expectations shared by every use case, per probe name
VERSIONS_FILE = ENVS / "versions.yaml"
CONDA_TO_PYPI = ENVS / "conda-to-pypi.yaml"
MODEL_CACHE_DIR = "model-cache"  # under the results folder: trained models kept by their inputs
NOX_DIR = ROOT / ".nox"  # environments: the tool's own, and one per cell (git-ignored)
INENV = PACKAGE / "drivers" / "inenv"  # scripts run by the Python of a cell's environment, not imported


EXTRA_USECASES = "ROLLOUT_EXTRA_USECASES"  # more folders laid out as this one: usecases/, probes/, envs/
_SCRATCH: list[Path] = []  # folders a remedy cell adds for itself while it runs (scratch_root)


def extra_roots() -> list[Path]:
    """The folders ROLLOUT_EXTRA_USECASES names (`:`-separated, relative to the repository), e.g.
    `examples/teams`: their use cases are cells beside the repository's own (settings.py validates them)."""
    given = os.environ.get(EXTRA_USECASES, "")
    return [*((ROOT / part).resolve() for part in given.split(os.pathsep) if part.strip()), *_SCRATCH]


@contextmanager
def scratch_root(folder: Path) -> Iterator[Path]:
    """A folder laid out as the repository that is one more home of use cases while the block runs
    (a remedy cell's amended copy of a use case: its lock goes there, never into envs/)."""
    _SCRATCH.append(folder)
    try:
        yield folder
    finally:
        _SCRATCH.remove(folder)


def _home(usecase: str) -> Path | None:
    """The extra folder holding `usecase` (None: the repository's own usecases/, or nowhere)."""
    if (USECASES / usecase).is_dir():
        return None
    return next((root for root in extra_roots() if (root / "usecases" / usecase).is_dir()), None)


def in_scratch(path: Path) -> bool:
    """Whether `path` is in a remedy cell's scratch folder (what it makes there is never committed)."""
    return any(path.is_relative_to(root) for root in _SCRATCH)


def usecase_roots() -> list[Path]:
    """Every folder of use cases: the repository's, then the extra ones."""
    return [USECASES, *(root / "usecases" for root in extra_roots())]


def usecase_dir(usecase: str) -> Path:
    """Where a use case lives (its MLproject, usecase.yaml)."""
    home = _home(usecase)
    return home / "usecases" / usecase if home else USECASES / usecase


def probes_dir(usecase: str) -> Path:
    """Where its requests live (`*.curl`, `*.expect.yaml`, upgrade.yaml)."""
    home = _home(usecase)
    return home / "probes" / usecase if home else PROBES / usecase


def cell_venv(kind: str, label: str, variant: str) -> Path:
    """The environment of one cell's session, where nox would put it (`.nox/validate-1-2-sbd-0-h2o_wine`);
    the cell's env stage makes it, under a lock beside it (envs/install.exclusive)."""
    return NOX_DIR / f"{kind}-{slug(label)}-{variant}"


def cell_env_dir(usecase: str, label: str) -> Path:
    """Folder holding the requirements and lock of one (use case, label) cell."""
    home = _home(usecase)
    return (home / "envs" if home else ENVS) / usecase / label


def slug(name: str) -> str:
    """A label as a folder name part: `1.2.SBD.0` -> `1-2-sbd-0` (as nox names session folders)."""
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
