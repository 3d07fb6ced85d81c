"""Where things live in the repository: one place, so the layout stays visible."""

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ENVS = ROOT / "envs"  # version registry, conda->PyPI names, locks per cell
USECASES = ROOT / "usecases"  # one MLflow Project per folder
PROBES = ROOT / "probes"  # stored curl requests and their expectations, per use case
RESULTS = Path(os.environ.get("ROLLOUT_RESULTS", ROOT / "results"))  # never committed
VERSIONS_FILE = ENVS / "versions.yaml"
VERSIONS_OVERRIDE = Path(os.environ.get("ROLLOUT_VERSIONS_OVERRIDE", ENVS / "versions.local.yaml"))
CONDA_TO_PYPI = ENVS / "conda-to-pypi.yaml"


def cell_env_dir(usecase: str, label: str) -> Path:
    """Folder holding the requirements and lock of one (use case, label) cell."""
    return ENVS / usecase / label
