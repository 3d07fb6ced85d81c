"""Upgrade cells for real: the model logged by production (1.2.SBD.0) is served by a newer label in
its own environment and in the model's rebuilt one, production's requests are replayed in the new
protocol, and a real break across versions is caught."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from rolloutcheck.models.results import FAIL, PASS, XFAIL, CellResult
from sessions import NOX, ROOT, SHARED_MODELS, alive, copy_repo, foreground_job, ours, validate

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(2400)]

SKLEARN = "sklearn_elasticnet_wine"


def cell(run: Path, label: str, usecase: str) -> CellResult:
    return CellResult.from_json(next(run.glob(f"upgrade-{label}/{usecase}*/cell.json")).read_text())


def statuses(result: CellResult) -> dict[str, str]:
    return {s.stage: s.status for s in result.stages}


def test_upgrade_to_3_17_2_serves_the_logged_model_both_ways(tmp_path):
    """scikit-learn 1.1 pickles (mlflow 1.2's env) fail on 1.9 (3.17.2's env and the model's rebuilt
    one): written down in probes/sklearn_elasticnet_wine/upgrade.yaml, so XFAIL with the real error."""
    run = tmp_path / "run"
    done = validate(f"upgrade-3.17.2({SKLEARN})", run)
    result = cell(run, "3.17.2", SKLEARN)
    stages = statuses(result)
    assert all(stages[s] == PASS for s in ("config", "from-train", "from-tracking", "from-serve", "to-env")), stages
    assert stages["local-serve"] == PASS and stages["model-env-serve"] == PASS, done.stdout[-3000:]
    assert stages["local-probe"] == XFAIL and stages["model-env-probe"] == XFAIL
    probe = next(s for s in result.stages if s.stage == "local-probe")
    assert "AttributeError" in probe.reason and "known break" in probe.reason
    inside = result.upgrade["model_env"]
    assert inside["logged_environment"] == "conda.yaml only"  # mlflow 1.2 logged no python_env.yaml
    assert inside["mlflow"] == "3.17.2" and inside["scikit-learn"].startswith("1.")  # mlflow was unpinned
    assert Path(inside["env"]).is_relative_to(ROOT / ".cache")  # not in $HOME
    assert result.from_label == "1.2.SBD.0" and result.upgrade["from_mlflow"] == "1.2.0"
    # the old model broke, so library pins were tried: each ends proven, not resolvable or still fails
    remedies = {r["name"]: r for r in result.upgrade["pin_remedies"]}
    order = ["model-libraries", "model-closure", "mlflow-in-place", "nearest-production"]
    assert list(remedies) == order[: len(remedies)] and stages["pin-remedy"] == PASS  # fewest changes first
    outcomes = [r["outcome"] for r in remedies.values()]
    assert "proven" not in outcomes[:-1] and (outcomes[-1] == "proven" or len(outcomes) == len(order))
    assert all(r["outcome"] in ("proven", "not resolvable", "still fails") and r["reason"] for r in remedies.values())
    assert "mlflow==3.17.2" in remedies["model-libraries"]["requirements"]
    assert any(r.startswith("scikit-learn==1.1") for r in remedies["model-libraries"]["requirements"])
    assert done.returncode == 0, done.stdout[-3000:]
    assert "| 1.2.SBD.0 -> 3.17.2 | sklearn_elasticnet_wine | PASS" in done.stdout


def test_an_upgrade_break_not_written_down_fails(tmp_path):
    repo = copy_repo(tmp_path / "repo")
    (repo / "probes" / SKLEARN / "upgrade.yaml").unlink()
    run = tmp_path / "run"
    done = subprocess.run([NOX, "-s", f"upgrade-3.17.2({SKLEARN})"], cwd=repo, capture_output=True, text=True,
                          env={**os.environ, "ROLLOUT_RUN_DIR": str(run), **SHARED_MODELS}, timeout=1800)  # fmt: skip
    assert done.returncode != 0
    result = cell(run, "3.17.2", SKLEARN)
    failure = result.failure()
    assert (result.status, failure.stage) == (FAIL, "local-probe")
    assert "AttributeError" in failure.reason and "\n" not in failure.reason
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
