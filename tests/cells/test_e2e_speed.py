"""Serving speed against production for real: two custom pyfuncs logged and registered by mlflow 1.30.1's own
client, served by production (1.30.1) and by 3.17.2 side by side, interleaved and repeated. One takes as long
on both (no finding); the other takes three times as long on 3.x (a regression with its figures, and the
`--workers 2` server tried and measured again: the finding is an action when that is within the rule,
blocking when not)."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest
from prodstores import production_store

from rolloutcheck.spec.results import PASS
from sessions import NOX, ROOT, nox_env, ours

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(1800)]

# long enough per server for the 10 ms / 20 ms answers to settle (a few hundred answers per repeat)
SPEED = {
    "ROLLOUT_SPEED_SECONDS": "6",
    "ROLLOUT_SPEED_REPEATS": "3",
    "ROLLOUT_SPEED_WORKERS": "2",
    "ROLLOUT_SPEED_QUIET_WAIT": "300",
}  # no other test runs meanwhile (`alone`): only its own stages, which end


@pytest.mark.alone  # a speed verdict: the machine to itself (issue 39: it read inconclusive beside another test)
def test_a_model_slower_on_the_new_label_is_a_finding_with_figures_and_an_equal_one_never_a_regression(tmp_path):
    written = production_store("1.30.1", tmp_path / "production", kind="speed")
    copy = tmp_path / "copy"
    shutil.copytree(written.parent, copy)
    run = tmp_path / "run"
    done = subprocess.run([NOX, "-s", "models-3.17.2"], cwd=ROOT, capture_output=True,
                          text=True, timeout=1500, env=nox_env(run, ROLLOUT_MODELS_FROM=str(copy / written.name),
                                                                ROLLOUT_FROM="1.30.1", **SPEED))  # fmt: skip
    assert not ours(run), "a process of the session survived it"
    found = {p.parent.name: json.loads(p.read_text()) for p in run.glob("models-3.17.2/*/cell.json")}
    assert set(found) == {"steady-v1", "slower-on-3-v1"}, done.stdout[-3000:]
    for name, cell in found.items():
        speed = next(s for s in cell["stages"] if s["stage"] == "speed")
        assert speed["status"] == PASS, (name, speed)
    rows = {name: cell["upgrade"]["speed"] for name, cell in found.items()}

    (steady,) = [r for r in rows["steady-v1"] if r["path"] == "as-is"]
    assert steady["verdict"] in ("none", "inconclusive"), steady  # equal work: never called a regression
    (slower,) = [r for r in rows["slower-on-3-v1"] if r["path"] == "as-is"]
    assert slower["verdict"] == "regression", slower
    assert slower["to"]["p95_ms"] > 1.5 * slower["from"]["p95_ms"] and len(slower["rounds"]) == 3
    assert all(r > 1.5 for r in slower["rounds"]), slower["rounds"]  # every repeat agrees
    # whether the machine was quiet, said: no other stage, idle before, what other processes used meanwhile
    assert set(slower["machine"]) == {"alone", "waited_s", "settled_s", "idle", "others_cores", "others"}
    assert slower["machine"]["alone"] is True, slower["machine"]  # no other test or stage ran meanwhile
    remedy = slower["remedy"]  # the same server with two workers, started and measured for real
    assert remedy["workers"] == 2 and remedy["outcome"] in ("proven", "still slower") and remedy["rows"], remedy
    assert remedy["command"].startswith("mlflow models serve") and " -w 2" in remedy["command"], remedy

    decided = subprocess.run([NOX, "-s", "decide", "--", str(run)], cwd=ROOT, capture_output=True, text=True,
                             env=nox_env(run), timeout=300)  # fmt: skip
    made = json.loads((run / "decision.json").read_text())
    speed = [f for f in made["findings"] if f["kind"] == "speed regression"]
    assert len(speed) == 1 and "slower-on-3" in speed[0]["hits"][0] and "steady" not in json.dumps(speed), speed
    (finding,) = speed
    assert f"p95 {slower['from']['p95_ms']:.1f} -> {slower['to']['p95_ms']:.1f} ms" in finding["seen"]
    if remedy["outcome"] == "proven":
        assert not finding["blocking"] and f"`{remedy['command']}`" in finding["remedy"], finding
    else:
        assert finding["blocking"] and made["verdict"] == "NO-GO" and decided.returncode == 1, finding
    table = (run / "decision.md").read_text()
    assert "## Speed after the rollout" in table and "steady v1" in table and "slower-on-3 v1" in table
    assert 'id="speed"' in (run / "report.html").read_text() and "<svg" in (run / "report.html").read_text()
