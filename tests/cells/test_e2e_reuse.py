"""Trained models reused by their inputs, for real: a second cell with unchanged inputs takes the model the
first one kept and its tracking check (serve, probes and speed still run on it), a damaged kept model is
trained again, never passed. Each test has a results folder (and so a model cache) of its own. That an
upgrade takes production's model from the validate cell of the same run is asserted on the rollout's
upgrade cell (tests/cells/test_e2e_rollout.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rolloutcheck.core import paths, procs
from rolloutcheck.spec.results import PASS
from rolloutcheck.stores import trained
from sessions import only_cell, stage, validate

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(1800)]

USECASE = "sklearn_elasticnet_wine"


def cell_of(results: Path, run: str, label: str, session: str):
    done = validate(session, results / "runs" / run, ROLLOUT_RESULTS=str(results))
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    result = only_cell(results / "runs" / run, label, USECASE)
    assert all(s.status == PASS for s in result.stages), [(s.stage, s.status, s.reason) for s in result.stages]
    return result, done


def test_unchanged_inputs_take_the_kept_model_and_a_damaged_one_is_trained_again(tmp_path):
    results, session = tmp_path / "results", f"validate-3.17.2({USECASE})"
    first, _ = cell_of(results, "r1", "3.17.2", session)
    train = stage(first, "train")
    assert train.reason.startswith("run ") and "reused" not in train.reason
    key = train.details["model_key"]
    assert stage(first, "tracking").details["model_cache"] == f"kept as {key}"

    second, done = cell_of(results, "r2", "3.17.2", session)
    train = stage(second, "train")
    assert train.reason == f"run {first.run_id}, reused from r1/3.17.2/{USECASE} (inputs unchanged)"
    assert train.details["model_key"] == key and second.run_id == first.run_id
    assert all(p.status == PASS for p in second.probes if p.name == "dataframe_split")  # served from the copy
    tracking = stage(second, "tracking")  # the same model, probes and check: the first cell's check is taken
    assert tracking.reason.startswith("run FINISHED") and tracking.reason.endswith(
        f"checked before in r1/3.17.2/{USECASE} (same model, probes and check)"
    )
    assert tracking.details["check_reused_from"] == f"r1/3.17.2/{USECASE}" and tracking.seconds < 2
    assert not any(r.get("role") == "tracking" for r in map(json.loads, commands(second)))  # no check process
    assert all(f["requests"] > 0 for f in second.speed.values())
    assert "Model cache: 1 trained model(s)" in done.stdout
    recorded = [json.loads(line) for line in commands(second)]
    assert any(r["command"][1:2] == ["run"] for r in recorded)  # repro.sh still trains

    entry = results / paths.MODEL_CACHE_DIR / key
    stored = [p for p in entry.rglob("model.*") if trained.CHECKS_DIR not in p.relative_to(entry).parts]
    model = next(p for p in stored if p.suffix in (".pkl", ".skops"))  # the store's, not a kept check's copy
    model.write_bytes(model.read_bytes()[:-8] + b"damaged!")
    third, _ = cell_of(results, "r3", "3.17.2", session)
    train = stage(third, "train")
    assert train.reason.startswith("run ") and "reused" not in train.reason and third.run_id != first.run_id
    assert "set aside" in train.details["reuse"] and "differs from what was recorded" in train.details["reuse"]
    assert stage(third, "tracking").details["model_cache"] == f"kept as {key}"  # a whole one again
    assert "check_reused_from" not in stage(third, "tracking").details  # a new model is checked


def commands(result) -> list[str]:
    return (Path(result.cell_dir) / "logs" / procs.COMMANDS_FILE).read_text().splitlines()
