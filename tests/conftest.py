"""Shared fixtures. Unit tests use real files, real processes and real sockets; nothing is mocked."""

import hashlib
import os
import signal
import tempfile
from pathlib import Path

import pytest

from rolloutcheck.core import quiet

ROOT = Path(__file__).resolve().parents[1]

# The make and nox commands tests start must behave as in a user's shell: `nox -s tests` runs pytest
# with NOX_SCRIPT_MODE=none (nox's script mode sets it for its own re-exec, so a child nox would skip
# building the tool env), and `make test` leaves make's variables (a child make then prints
# "Entering/Leaving directory" lines around its output).
for _name in ("NOX_SCRIPT_MODE", "MAKEFLAGS", "MAKELEVEL", "MFLAGS"):
    os.environ.pop(_name, None)
# Sealed from the caller: none of the tool's settings leaks in from the shell (`RETRAIN=1 make test` set
# ROLLOUT_RETRAIN for every cell), the environment backend is the one the tests assert (a conda on PATH made
# `auto` pick conda), and a team's envs/versions.local.yaml is read only where a test names one.
for _name in [n for n in os.environ if n.startswith("ROLLOUT_")]:
    os.environ.pop(_name)
os.environ["ENV_BACKEND"] = "uv"
os.environ["ROLLOUT_VERSIONS_OVERRIDE"] = str(ROOT / "tests" / "no-versions-override.yaml")  # never a file
# Sealed from the day: every resolution against the package index (locks of a new label, the environment
# mlflow rebuilds from a logged model, pin remedies) sees the index as it was at INDEX_AS_OF, so a release
# published after it (mlflow 3.18.0 did, 2026-12-02) cannot turn a test red. The one place the date is kept;
# move it forward on purpose, with the committed locks, never by a test. uv reads UV_EXCLUDE_NEWER wherever
# the tool or mlflow starts it; files of a local index or wheel have no upload time and are always seen.
INDEX_AS_OF = "2026-12-07T00:00:00Z"
os.environ["UV_EXCLUDE_NEWER"] = INDEX_AS_OF
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


# Tests that time things (a speed verdict, a CPU threshold) run with the machine to themselves: marked
# `alone`, they hold this lock alone for their whole run, every other test holds it shared (core/quiet.py's
# readers-writer lock, its gate keeping a waiting one from being starved). A lock of the tests' own, not the
# speed stage's: a test holding that one shared would block its own cells' stages at the gate a waiting
# comparison holds (a deadlock until the comparison's wait runs out).
TESTS_LOCK = quiet.Lock(
    Path(tempfile.gettempdir()) / f"rolloutcheck-tests-{hashlib.sha1(str(ROOT).encode()).hexdigest()[:8]}"
)


@pytest.fixture(autouse=True)
def _machine(request):
    if request.node.get_closest_marker("alone"):
        with TESTS_LOCK.alone(max_wait=3600) as waited:
            assert waited.alone, "a timed test could not get the machine to itself in an hour"
            yield
    else:
        with TESTS_LOCK.busy():
            yield


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
