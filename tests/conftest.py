"""Shared fixtures. Unit tests use real files, real processes and real sockets; nothing is mocked."""

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# `nox -s tests` runs pytest with NOX_SCRIPT_MODE=none (nox's script mode sets it for its own re-exec);
# the make and nox commands tests start must behave as in a user's shell, which builds the tool env.
os.environ.pop("NOX_SCRIPT_MODE", None)


@pytest.fixture
def root() -> Path:
    return ROOT
