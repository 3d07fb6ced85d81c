"""One real cell of each of the seed's other use cases (CI's choice; `make matrix` runs them all),
plus the JVM-specific failure and cleanup paths of h2o."""

from __future__ import annotations

import os
import signal

import pytest

from rolloutcheck import cells
from rolloutcheck.cells.lifecycle import CellRequest
from rolloutcheck.core.settings import Settings
from rolloutcheck.inputs import registry
from rolloutcheck.spec.kinds import VALIDATE
from rolloutcheck.spec.results import FAIL, PASS, SKIP, XFAIL
from sessions import alive, interrupt_while_serving, only_cell, ours, stage, validate

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(2400)]


def test_xgboost_on_the_fork_label_logs_a_pyfunc_model(tmp_path):
    """mlflow 1.2 has no xgboost flavor: the cell passes with the python_function fallback."""
    run = tmp_path / "run"
    done = validate("validate-1.2.SBD.0(xgboost_adult)", run)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    result = only_cell(run, "1.2.SBD.0", "xgboost_adult")
    assert [s.status for s in result.stages] == [PASS] * 8
    assert result.flavor == "python_function"
    seed = next(p for p in result.probes if p.name == "seed_pandas_split")
    assert seed.status == PASS and "match the oracle" in seed.reason
    assert "| 1.2.SBD.0 (1.2.0) | PASS [python_function]" in done.stdout


# one worker runs both h2o tests, the second taking the model the first trained (a minute of JVM training)
H2O_ONE_MODEL = pytest.mark.xdist_group("h2o-3.17.2")


@H2O_ONE_MODEL
def test_h2o_cell_passes_and_leaves_no_jvm(tmp_path):
    run = tmp_path / "run"
    done = validate("validate-3.17.2(h2o_wine)", run)  # validate() asserts no java of the run survives
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    result = only_cell(run, "3.17.2", "h2o_wine")
    assert [s.status for s in result.stages] == [PASS] * 8
    assert result.flavor == "h2o"
    assert stage(result, "env").details["java"].startswith(("openjdk", "java"))
    probes = {p.name: p.status for p in result.probes}
    assert probes == {"seed_pandas_split": XFAIL, "dataframe_split": PASS}


@H2O_ONE_MODEL
def test_h2o_interrupted_while_serving_leaves_no_jvm(tmp_path):
    run = tmp_path / "run"
    code, tree = interrupt_while_serving("validate-3.17.2(h2o_wine)", run, tmp_path / "nox.log", signal.SIGINT, 8)
    assert code != 0
    survivors = ours(run) + alive(tree)
    assert not survivors, [(p.pid, p.cmdline()[:3]) for p in survivors]


def test_missing_java_fails_the_env_stage_clearly(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")  # no java on PATH (lock is fresh: uv is not needed)
    label = registry.load_labels()["3.17.2"]
    settings = Settings.from_environ({**os.environ, "ROLLOUT_RUN_DIR": str(tmp_path)})
    result = cells.run(
        CellRequest(
            kind=VALIDATE,
            label=label,
            variant="h2o_wine",
            settings=settings,
            venv=tmp_path / "venv",
            printer=lambda message: None,
        )
    )
    env = stage(result, "env")
    assert env.status == FAIL
    assert env.reason.startswith("Java not found: this use case needs a JDK")
    assert [s.status for s in result.stages[3:]] == [SKIP] * 5


def test_tensorflow_scores_the_seeds_duplicate_feature_columns(tmp_path):
    """13 columns all named "features": the mlflow 2+ request scores on the Keras flavor."""
    run = tmp_path / "run"
    done = validate("validate-3.17.2(tensorflow)", run)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    result = only_cell(run, "3.17.2", "tensorflow")
    assert [s.status for s in result.stages] == [PASS] * 8
    assert result.flavor == "keras"
    probes = {p.name: p for p in result.probes}
    assert probes["dataframe_split"].status == PASS and "match the oracle" in probes["dataframe_split"].reason
    assert probes["seed_pandas_split"].status == XFAIL and probes["seed_pandas_split"].http_status == 415
