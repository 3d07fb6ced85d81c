"""Teams' projects as they are, end to end for real (uv envs, `mlflow run`, `mlflow models serve`, HTTP):
a python_env.yaml project on pyenv's Python 3.8, an autologging project without a model path, and
a project without params whose only probe is the input example its model logs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rolloutcheck.spec.results import FAIL, PASS, SKIP, CellResult
from sessions import ROOT, need_python, only_cell, stage, validate

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(1800)]

PYENV, AUTOLOG, EXAMPLE = "team_churn_pyenv", "team_housing_autolog", "team_iris_example"


def test_python_env_project_runs_on_the_python_it_names_and_a_label_that_cannot_is_one_lock_line(tmp_path):
    """The production label (mlflow 1.2, which predates python_env) runs it in the env the tool built."""
    need_python("3.8")
    need_python("3.10")
    run = tmp_path / "run"
    done = validate(f"validate-1.2.SBD.0({PYENV})", run)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    result = only_cell(run, "1.2.SBD.0", PYENV)
    assert [s.status for s in result.stages] == [PASS] * 8
    config = stage(result, "config").reason
    assert "python_env python_env.yaml, Python 3.8 (mlflow 1.2.0 predates python_env, 1.26" in config
    # the session's env was made from pyenv's 3.8 (only 3.11 resolves through pyenv's shims here)
    assert "version_info = 3.8" in (ROOT / ".nox" / "validate-1-2-sbd-0-team_churn_pyenv" / "pyvenv.cfg").read_text()
    assert stage(result, "tracking").details["model_uri"] == f"runs:/{result.run_id}/model"  # found, not named

    done = validate(f"validate-3.17.2({PYENV})", run)
    assert done.returncode != 0
    failed = only_cell(run, "3.17.2", PYENV)
    lock = stage(failed, "lock")
    assert lock.status == FAIL and "\n" not in lock.reason
    assert "unresolvable" in lock.reason and "mlflow==3.17.2 depends on Python>=3.10" in lock.reason
    assert "the project names Python 3.8" in lock.reason and "python_by_mlflow" in lock.reason  # the way out
    assert [s.status for s in failed.stages[2:]] == [SKIP] * 6
    # the way out, proven: the project on the lowest Python 3.17.2 supports here, as a cell of its own
    move = failed.upgrade["python_move"]
    assert move["outcome"] == "proven" and move["python"] == "3.10", move
    assert move["line"] == 'python_by_mlflow: {">=3": "3.10"}' and "examples/teams/usecases" in move["file"]
    moved = CellResult.from_json((Path(move["cell"]) / "cell.json").read_text())
    assert moved.status == PASS and [s.stage for s in moved.stages][-6:] == ["env", "train", "tracking", "serve",
                                                                           "probe", "speed"]  # fmt: skip
    assert not (ROOT / "examples" / "teams" / "envs" / f"{PYENV}-py310").exists()  # its lock stayed in the cell


def test_autologged_model_is_found_as_a_logged_model_and_every_request_form_is_judged(tmp_path):
    run = tmp_path / "run"
    done = validate(f"validate-3.17.2({AUTOLOG})", run, ROLLOUT_RETRAIN="1")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    result = only_cell(run, "3.17.2", AUTOLOG)
    assert [s.status for s in result.stages] == [PASS] * 8
    assert stage(result, "tracking").details["model_uri"].startswith("models:/m-")  # a 3.x LoggedModel
    probes = {p.name: p for p in result.probes}
    assert probes["inputs"].status == PASS and "match the oracle" in probes["inputs"].reason  # named tensors
    assert probes["dataframe_split"].status == PASS and "match the oracle" in probes["dataframe_split"].reason
    assert "models:/m-" in Path(result.cell_dir, "logs", "serve.log").read_text()  # served from there too


@pytest.mark.parametrize(
    "label",
    [pytest.param("1.30.1", marks=pytest.mark.slow), "3.17.2"],  # 1.30.1: a second representative
)
def test_the_models_logged_input_example_is_the_probe(tmp_path, label):
    run = tmp_path / "run"
    done = validate(f"validate-{label}({EXAMPLE})", run)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    result = only_cell(run, label, EXAMPLE)
    assert [s.status for s in result.stages] == [PASS] * 8
    assert "no stored requests: the probe is the input example the model logs" in stage(result, "config").reason
    (probe,) = result.probes
    assert probe.name == "logged-input-example" and probe.status == PASS and probe.http_status == 200
    assert "match the oracle" in probe.reason
    sent = Path(result.cell_dir, "logs", "probe.log").read_text()
    if label == "1.30.1":  # the example in the 1.x protocol
        assert "format=pandas-split" in sent and probe.request.endswith("/input_example.json")
    else:  # the serving body the model logged beside its example (2.15+), as it is
        assert '"dataframe_split"' in sent and probe.request.endswith("/serving_input_example.json")
    assert "logged-input-example" in result.speed  # measured like a stored request
    assert json.loads(Path(result.cell_dir, "cell.json").read_text())["status"] == PASS
