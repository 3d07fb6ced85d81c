"""Upgrade cells for real: the model logged by production (1.2.SBD.0) is served by a newer label in
its own environment and in the model's rebuilt one, production's requests are replayed in the new
protocol, and a real break across versions is caught. The upgrade of production's sklearn model to 3.17.2
is asserted in tests/cells/test_e2e_reuse.py (tests/upgrades.py), where it takes the model from the validate
cell of its run: one upgrade cell for both."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from rolloutcheck.spec.results import FAIL, SKIP, CellResult
from sessions import NOX, SHARED_MODELS, alive, copy_repo, foreground_job, ours

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(2400)]

SKLEARN = "sklearn_elasticnet_wine"


def cell(run: Path, label: str, usecase: str) -> CellResult:
    return CellResult.from_json(next(run.glob(f"upgrade-{label}/{usecase}*/cell.json")).read_text())


def test_an_upgrade_break_not_written_down_fails_and_fail_fast_stops_there(tmp_path):
    """The real AttributeError of production's sklearn model on 3.17.2 with its upgrade.yaml gone: FAIL at
    local-probe, one line. With ROLLOUT_FAIL_FAST (a developer reproducing it) the cell stops there: the
    retrained path, the model's own env and the pin remedies (a minute, tests/cells/test_e2e_rollout.py runs
    them) are skipped, saying why."""
    repo = copy_repo(tmp_path / "repo")
    (repo / "probes" / SKLEARN / "upgrade.yaml").unlink()
    run = tmp_path / "run"
    env = {**os.environ, "ROLLOUT_RUN_DIR": str(run), "ROLLOUT_FAIL_FAST": "1", **SHARED_MODELS}
    done = subprocess.run([NOX, "-s", f"upgrade-3.17.2({SKLEARN})"], cwd=repo, capture_output=True, text=True,
                          env=env, timeout=1800)  # fmt: skip
    assert done.returncode != 0
    result = cell(run, "3.17.2", SKLEARN)
    failure = result.failure()
    assert (result.status, failure.stage) == (FAIL, "local-probe")
    assert "AttributeError" in failure.reason and "\n" not in failure.reason
    after = [s for s in result.stages if s.stage in ("to-train", "speed", "model-env-serve", "pin-remedy")]
    assert len(after) == 4 and all(s.status == SKIP and "ROLLOUT_FAIL_FAST" in s.reason for s in after), after
    assert not ours(run)


def test_ctrl_c_during_the_load_leaves_no_process(tmp_path):
    repo = copy_repo(tmp_path / "repo")
    spec = repo / "usecases" / SKLEARN / "usecase.yaml"
    spec.write_text(spec.read_text() + "load: {requests: 100000, seconds: 300}\n")  # a load that lasts
    run, log = tmp_path / "run", tmp_path / "nox.log"
    with log.open("w") as out:
        nox = subprocess.Popen([NOX, "-s", f"upgrade-1.30.1({SKLEARN})"], cwd=repo, stdout=out,
                               stderr=subprocess.STDOUT, env={**os.environ, "ROLLOUT_RUN_DIR": str(run)},
                               start_new_session=True, preexec_fn=foreground_job)  # fmt: skip
        deadline = time.monotonic() + 1500
        while time.monotonic() < deadline and nox.poll() is None and "] speed: " not in log.read_text():
            time.sleep(0.5)
        assert "] speed: " in log.read_text(), log.read_text()[-3000:]
        time.sleep(3)
        servers = {p.pid for p in ours(run)}
        assert servers, "the from and to servers should be up during the load"
        os.killpg(nox.pid, signal.SIGINT)
        nox.wait(timeout=180)
    assert nox.returncode != 0
    assert not ours(run) and not alive(servers)
    result = json.loads(next(run.glob(f"upgrade-1.30.1/{SKLEARN}/cell.json")).read_text())
    speed = next(s for s in result["stages"] if s["stage"] == "speed")
    assert speed["status"] == "fail" and "interrupted" in speed["reason"]
