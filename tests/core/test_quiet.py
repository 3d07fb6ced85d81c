"""The machine-wide speed lock, across real processes: a comparison waits for running stages, keeps new
ones from starting, gives up after its bound, and never deadlocks with its own stage."""

import multiprocessing
import time

import pytest

from rolloutcheck.core import quiet

FORK = multiprocessing.get_context("fork")


@pytest.fixture(autouse=True)
def private_lock(tmp_path):
    before = quiet._LOCK.directory
    quiet.use(tmp_path / "locks")
    yield tmp_path
    quiet.use(before)


def _stage(seconds: float, started, ended) -> None:
    with quiet.busy():
        started.set()
        time.sleep(seconds)
        ended.value = time.monotonic()


def _stage_after(ready, entered) -> None:
    ready.wait(10)
    with quiet.busy():
        entered.value = time.monotonic()


def test_a_comparison_waits_for_a_stage_running_elsewhere():
    started, ended = FORK.Event(), FORK.Value("d", 0.0)
    other = FORK.Process(target=_stage, args=(1.0, started, ended))
    other.start()
    assert started.wait(10)
    with quiet.alone(max_wait=30) as machine:
        got = time.monotonic()
    other.join(10)
    assert machine.alone and machine.seconds >= 0.5
    assert got >= ended.value > 0  # the stage had ended before the comparison began


def test_a_new_stage_waits_for_the_comparison():
    ready, entered = FORK.Event(), FORK.Value("d", 0.0)
    other = FORK.Process(target=_stage_after, args=(ready, entered))
    other.start()
    with quiet.alone(max_wait=5) as machine:
        ready.set()
        time.sleep(0.8)
        done = time.monotonic()
    other.join(10)
    assert machine.alone
    assert entered.value >= done  # the stage started only after the comparison ended


def test_a_comparison_gives_up_waiting_and_says_so():
    started, ended = FORK.Event(), FORK.Value("d", 0.0)
    other = FORK.Process(target=_stage, args=(3.0, started, ended))
    other.start()
    assert started.wait(10)
    with quiet.alone(max_wait=0.3) as machine:
        pass
    other.join(10)
    assert not machine.alone and 0.3 <= machine.seconds < 2.5
    assert machine.as_dict() == {"alone": False, "waited_s": round(machine.seconds, 1)}


def test_a_comparison_inside_its_own_stage_does_not_wait_for_itself():
    with quiet.busy():
        with quiet.alone(max_wait=2) as machine:
            assert machine.alone and machine.seconds < 1
        assert quiet._LOCK.shared is not None  # the stage holds its share again
    assert quiet._LOCK.shared is None
