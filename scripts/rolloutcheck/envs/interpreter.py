"""Which Python builds a cell's environment."""

from __future__ import annotations

import sys

from rolloutcheck.core import paths
from rolloutcheck.envs import install as environment
from rolloutcheck.envs import spec as envspec


def interpreter_for(usecase: str) -> tuple[str, str | None]:
    """(Python to build the env with, the version conda.yaml names if it is missing here).
    Never fails: a use case whose conda.yaml is broken gets this Python and fails its config stage."""
    current = f"{sys.version_info.major}.{sys.version_info.minor}"
    try:
        wanted = envspec.read_conda_env(paths.USECASES / usecase / "conda.yaml").python or "3.11"
    except Exception:  # noqa: BLE001 - reported by the cell's config stage, not while nox loads
        return current, None
    if environment.python_available(wanted):
        return wanted, None
    return current, wanted
