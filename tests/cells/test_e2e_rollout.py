"""A small rollout for real: one use case and one store kind for 3.17.2 from production, through the
matrix runner, ends with a decision whose every finding names its remedy and evidence; the upgrade cell
takes production's model from the validate cell of the same run (tests/upgrades.py asserts what it
shows); a cell that never finished turns the same run into NO-GO."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from rolloutcheck.spec.results import CellResult
from sessions import NOX, ROOT, nox_env, only_cell, ours, stage
from upgrades import assert_served_both_ways

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(3600)]

SKLEARN = "sklearn_elasticnet_wine"


def test_a_small_rollout_ends_with_a_decision_and_its_evidence(tmp_path):
    results = tmp_path / "results"  # a model cache of its own: what the upgrade reuses is this run's
    run = results / "runs" / "r1"
    selection = ["--usecase", SKLEARN, "--usecase", "filestore"]
    done = subprocess.run([NOX, "-s", "rollout-3.17.2", "--", *selection], cwd=ROOT, capture_output=True, text=True,
                          env=nox_env(run, ROLLOUT_RESULTS=str(results)), timeout=3300)  # fmt: skip
    assert not ours(run), "a process of the rollout survived it"
    made = json.loads((run / "decision.json").read_text())
    # validate on 3.17.2 and on production (what already fails there is not the rollout's), upgrade, store
    assert made["cells"] == 4 and made["passed"] == 4, made["failures"]
    assert not made["not_on_production"] and (run / "1.2.SBD.0" / SKLEARN / "cell.json").is_file()
    production = only_cell(run, "1.2.SBD.0", SKLEARN)
    upgrade = CellResult.from_json(next(run.glob(f"upgrade-3.17.2/{SKLEARN}*/cell.json")).read_text())
    reused = stage(upgrade, "from-train").reason  # production's model, not trained a second time
    where = "/".join(Path(production.cell_dir).parts[-3:])
    assert reused == f"run {production.run_id}, reused from {where} (inputs unchanged)", reused
    assert_served_both_ways(upgrade, (run / "summary.md").read_text())
    assert made["verdict"] in ("GO WITH ACTIONS", "NO-GO") and done.returncode == made["exit_code"], done.stderr[-3000:]
    kinds = {f["kind"] for f in made["findings"]}
    # the seed's request refused with 415, the old sklearn model failing on 3.17.2, the file store's
    # deleted experiment read as active again: each an action, never a silent pass
    assert {"client request change", "model retrain", "data repair", "configuration change"} <= kinds, kinds
    assert [f["kind"] for f in made["findings"]].count("client request change") == 1  # one action, every cell
    retrain_pins = next(f for f in made["findings"] if f["kind"] == "model retrain" and "upgrade" in f["cell"])[
        "remedy"
    ]
    assert "`scikit-learn==1.1" in retrain_pins and "`numpy==" in retrain_pins and "idna" not in retrain_pins
    # speed against production's server on every path the team can take: the old model broke as it is (said,
    # not timed), the retrained and the pinned model each judged over repeated rounds
    speed = {row["path"]: row for row in made["speed"] if row["usecase"] == SKLEARN}
    assert set(speed) == {"as-is", "retrained", "pinned"} and speed.pop("as-is")["verdict"] == "not served"
    assert all(r["verdict"] in ("none", "regression", "inconclusive") and len(r["rounds"]) >= 2 for r in speed.values())
    assert "speed against production" in retrain_pins or "SLOWER than production" in retrain_pins
    for finding in made["findings"]:
        assert finding["remedy"] and finding["evidence"] and finding["id"].startswith("F-")
        assert finding["blocking"] == (finding["proof"] is None and finding["accepted"] is None)
        assert all(Path(e).exists() for e in finding["evidence"]), finding["evidence"]
    if made["verdict"] == "NO-GO":
        assert any(f["blocking"] for f in made["findings"])
    # the old model's rebuilt environment took mlflow 3.18.0 from the index (issue 39): said, and the pin proven
    unpinned = next(f for f in made["findings"] if f["stage"] == "model-env-serve")
    assert unpinned["seen"].startswith("the model environment got mlflow 3.18.0, not 3.17.2"), unpinned
    assert "pin `mlflow==3.17.2`" in unpinned["remedy"] and "held mlflow 3.17.2" in unpinned["proof"], unpinned
    retrain = next(f for f in made["findings"] if f["kind"] == "model retrain" and "upgrade" in f["cell"])
    assert retrain["proof"] and "validate cell 3.17.2 x sklearn_elasticnet_wine passed" in retrain["proof"]
    assert "Rollout decision: **" in done.stdout and 'id="decision"' in (run / "report.html").read_text()
    assert (run / "decision.md").read_text().startswith("# Rollout decision")

    # the same run with one cell that never finished: NO-GO, naming it
    broken = tmp_path / "broken"
    shutil.copytree(run, broken, symlinks=True)
    next(broken.glob(f"upgrade-3.17.2/{SKLEARN}*/cell.json")).unlink()
    again = subprocess.run([NOX, "-s", "decide", "--", str(broken)], cwd=ROOT, capture_output=True, text=True,
                           env=nox_env(broken), timeout=600)  # fmt: skip
    assert again.returncode == 1, again.stderr[-2000:]
    redone = json.loads((broken / "decision.json").read_text())
    assert redone["verdict"] == "NO-GO" and any("never finished" in f["reason"] for f in redone["failures"])
