"""Shared fixtures. Unit tests use real files, real processes and real sockets; nothing is mocked."""

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def root() -> Path:
    return ROOT
