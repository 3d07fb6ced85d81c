"""Shared fixtures. Unit tests use real files, real processes and real sockets; nothing is mocked."""

import os
import signal
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# The make and nox commands tests start must behave as in a user's shell: `nox -s tests` runs pytest
# with NOX_SCRIPT_MODE=none (nox's script mode sets it for its own re-exec, so a child nox would skip
# building the tool env), and `make test` leaves make's variables (a child make then prints
# "Entering/Leaving directory" lines around its output).
for _name in ("NOX_SCRIPT_MODE", "MAKEFLAGS", "MAKELEVEL", "MFLAGS"):
    os.environ.pop(_name, None)
# The tests keep using the sample team projects (examples/teams): beside the seed's use cases, as a team
# that brings its own projects would run them (ROLLOUT_EXTRA_USECASES; the default is the seed's world).
os.environ["ROLLOUT_EXTRA_USECASES"] = "examples/teams"
# End-to-end cells time their servers briefly (3 repeats sharing 1.5 s per server instead of 5 sharing 10,
# and no `--workers` remedy tried): the tests check that speed is measured, judged and reported, not the
# figures; a test that needs more (tests/cells/test_e2e_speed.py) sets its own.
os.environ.setdefault("ROLLOUT_SPEED_SECONDS", "1.5")
os.environ.setdefault("ROLLOUT_SPEED_REPEATS", "3")
os.environ.setdefault("ROLLOUT_SPEED_WORKERS", "1")
# ... and do not wait for a quiet machine (pytest -n 2 runs cells side by side; core/quiet.py has its own test)
os.environ.setdefault("ROLLOUT_SPEED_QUIET_WAIT", "0")
# A shell starts background jobs with Ctrl-C ignored, and an ignored signal stays ignored in every child:
# the sessions the Ctrl-C tests start must get it as a terminal's foreground job would.
if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


def pytest_collection_modifyitems(config, items):
    """End-to-end tests first (minutes each), the unit tests after them: with two workers the quick ones
    fill the gaps at the end instead of one worker finishing a long test alone."""
    items.sort(key=lambda item: item.get_closest_marker("e2e") is None)


@pytest.fixture
def chromium() -> str:
    """Debian's chromium for the browser tests (tests/browser.py); in CI its absence fails them."""
    from browser import CHROMIUM

    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} missing: .ci/run installs Debian's chromium")
        pytest.skip("no chromium here (apt-get install chromium; .ci/run does it)")
    return CHROMIUM


@pytest.fixture
def root() -> Path:
    return ROOT
