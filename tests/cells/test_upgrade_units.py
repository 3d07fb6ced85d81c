"""Upgrade cells, the parts without servers: known breaks, branches of the stage runner, which
requests are production's, and the one line a scoring server's refusal is reduced to."""

from __future__ import annotations

import json
import re

import pytest

from rolloutcheck.cells.context import StageFailed
from rolloutcheck.cells.runner import StageRunner
from rolloutcheck.cells.stages.upgrade.replay import error_line, in_protocol_of, production_requests
from rolloutcheck.core import paths
from rolloutcheck.core.errors import ConfigError
from rolloutcheck.core.steplog import StepLog
from rolloutcheck.inputs import preflight, registry, usecases
from rolloutcheck.spec import breaks
from rolloutcheck.spec.results import FAIL, PASS, SKIP, XFAIL, XPASS, CellResult, ProbeResult


def written(stage: str, seen: str, reason: str, kind: str = "retrain"):
    """The runner's view of one written-down break: stage -> its candidates."""
    entry = (re.compile(seen), breaks.Described("probes/uc/upgrade.yaml", stage, seen, kind, reason))
    return lambda name: (entry,) if name == stage else ()


def upgrade_runner(tmp_path, known=None) -> StageRunner:
    result = CellResult("3.17.2", "uc", str(tmp_path), kind="upgrade", from_label="1.2.SBD.0")
    return StageRunner(result, StepLog("t", lambda m: None), tmp_path, known)


def fails(record):
    raise StageFailed("HTTP 400: AttributeError: 'str' object has no attribute 'transform'")


def passes(record):
    record.reason = "ok"


def test_a_failure_in_a_branch_skips_only_that_branch(tmp_path):
    run = upgrade_runner(tmp_path)
    run.step("config", "", passes)
    with run.branch():
        run.step("local-serve", "", fails)
        run.step("local-probe", "", passes)
    with run.branch():
        assert run.step("model-env-serve", "", passes)
    statuses = {s.stage: s.status for s in run.result.stages}
    assert statuses == {"config": PASS, "local-serve": FAIL, "local-probe": SKIP, "model-env-serve": PASS}
    run.finish()
    assert run.result.status == FAIL


def test_fail_fast_stops_the_cell_at_its_first_failure_across_branches(tmp_path):
    """ROLLOUT_FAIL_FAST: the failure in one branch skips the other branches too (and finish() says so for
    the stages never reached); a known break is no failure, so it stops nothing."""
    known = written("model-env-serve", "AttributeError: 'str'", "scikit-learn 1.1 pickles fail on 1.9")
    result = CellResult("3.17.2", "uc", str(tmp_path), kind="upgrade", from_label="1.2.SBD.0")
    run = StageRunner(result, StepLog("t", lambda m: None), tmp_path, known, fail_fast=True)
    run.step("config", "", passes)
    with run.branch():
        run.step("model-env-serve", "", fails)  # written down: XFAIL, the cell goes on
    with run.branch():
        run.step("local-serve", "", fails)
        run.step("local-probe", "", passes)
    with run.branch():
        assert not run.step("to-train", "", passes)
    run.finish()
    stages = {s.stage: s for s in run.result.stages}
    assert stages["model-env-serve"].status == XFAIL and stages["local-serve"].status == FAIL
    for name in ("local-probe", "to-train", "pin-remedy"):
        assert stages[name].status == SKIP, name
        assert stages[name].reason == "skipped: stopped at the first failure, stage local-serve (ROLLOUT_FAIL_FAST)"
    assert run.result.status == FAIL


def test_a_known_break_is_xfail_and_the_rest_of_its_branch_too(tmp_path):
    known = written("local-serve", "AttributeError: 'str'", "scikit-learn 1.1 pickles fail on 1.9")
    run = upgrade_runner(tmp_path, known)
    for name in ("config", "from-lock", "from-env", "from-train", "from-tracking", "from-serve", "to-lock", "to-env"):
        run.step(name, "", passes)
    with run.branch():
        run.step("local-serve", "", fails)
        run.step("local-probe", "", passes)
    with run.branch():
        for name in ("to-train", "to-tracking", "to-serve"):
            run.step(name, "", passes)
    with run.branch():
        run.step("speed", "", passes)  # the retrained path is still timed after the old model broke
    with run.branch():
        run.step("model-env-serve", "", passes)
        run.step("model-env-probe", "", passes)
    with run.branch():
        run.step("pin-remedy", "", passes)  # every declared stage must run for a PASS
    run.finish()
    statuses = {s.stage: s.status for s in run.result.stages}
    assert statuses["local-serve"] == XFAIL and statuses["local-probe"] == XFAIL and statuses["speed"] == PASS
    assert run.result.stages[9].reason.startswith("not run:") and statuses["model-env-probe"] == PASS
    assert "scikit-learn 1.1 pickles" in run.result.stages[8].reason and "AttributeError" in run.result.stages[8].reason
    assert run.result.status == PASS  # every stage passed or is a written-down break
    assert run.result.stages[8].details["breaks"][0]["entry"]["seen"] == "AttributeError: 'str'"


def test_a_failure_a_written_down_break_does_not_describe_is_a_break_not_written_down(tmp_path):
    """The break written for the stage is about something else: the failure is not filed under it."""
    run = upgrade_runner(tmp_path, written("local-probe", "numpy.dtype size changed", "numpy 2 ABI"))
    with run.branch():
        run.step("local-probe", "", fails)
    stage = run.result.stages[-1]
    assert stage.status == XFAIL and stage.reason.startswith("a break not written down at local-probe: HTTP 400")
    assert "numpy 2 ABI" not in stage.reason and stage.details["breaks"][0]["entry"] is None
    with run.branch():
        run.step("model-env-probe", "", fails)  # nothing written down for this stage: a FAIL, as before
    assert run.result.stages[-1].status == FAIL


def test_the_pattern_may_match_a_line_of_the_failure_s_log(tmp_path):
    log = tmp_path / "serve.log"
    log.write_text("Traceback (most recent call last):\n  ...\nValueError: numpy.dtype size changed\n")

    def exits(record):
        raise StageFailed("server exited with code 1", log)

    run = upgrade_runner(tmp_path, written("local-serve", r"numpy\.dtype size changed", "numpy 2 ABI"))
    run.step("local-serve", "", exits)
    stage = run.result.stages[-1]
    assert stage.status == XFAIL and "numpy 2 ABI" in stage.reason
    assert stage.details["breaks"][0]["seen"] == "ValueError: numpy.dtype size changed"


def test_a_break_a_stage_worked_around_is_one_of_its_breaks(tmp_path):
    """A store opened only with a setting: the stage did its work, and the refusal is a finding of its own."""

    def worked_around(record):
        record.details["observed"] = ["The filesystem tracking backend is in maintenance mode"]
        raise StageFailed("1 difference(s), first: experiment 3 lifecycle_stage: 'deleted' -> 'active'")

    deleted = written("to-read", "lifecycle_stage.*deleted.*active", "deleted reads as active", "data-repair")
    refusal = written("to-read", "maintenance mode", "set MLFLOW_ALLOW_FILE_STORE", "configuration")
    run = upgrade_runner(tmp_path, lambda stage: (*deleted(stage), *refusal(stage)))
    with run.branch():
        run.step("to-read", "", worked_around)
    stage = run.result.stages[-1]
    kinds = [b["entry"]["kind"] for b in stage.details["breaks"]]
    assert stage.status == XFAIL and kinds == ["data-repair", "configuration"]
    alone = upgrade_runner(tmp_path, deleted)  # the refusal nobody wrote down: a break of its own, not a pass
    alone.step("to-read", "", lambda record: record.details.update(observed=["maintenance mode"]))
    assert alone.result.stages[-1].status == XFAIL
    assert alone.result.stages[-1].reason.startswith("a break not written down at to-read: maintenance mode")


def test_requests_that_failed_in_a_known_break_are_xfail_and_others_stay_failed(tmp_path):
    known = written("local-probe", "HTTP 400", "pickles fail on 1.9")

    def probes_fail(record):
        run.result.probes.append(ProbeResult("local:a", FAIL, "HTTP 400"))
        raise StageFailed("a: HTTP 400")

    run = upgrade_runner(tmp_path, known)
    run.result.probes.append(ProbeResult("earlier", FAIL, "HTTP 500"))  # not this stage's: left alone
    with run.branch():
        run.step("local-probe", "", probes_fail)
    assert [(p.name, p.status) for p in run.result.probes] == [("earlier", FAIL), ("local:a", XFAIL)]
    assert run.result.probes[1].reason == "known break: pickles fail on 1.9 [probes/uc/upgrade.yaml] (seen: HTTP 400)"
    with run.branch():
        run.step("model-env-probe", "", probes_fail)  # no known break here: a failure
    assert run.result.probes[2].status == FAIL and run.result.stages[-1].status == FAIL


def test_a_known_break_that_no_longer_happens_is_xpass(tmp_path):
    run = upgrade_runner(tmp_path, written("local-serve", "x", "was broken"))
    run.step("config", "", passes)
    run.step("local-serve", "", passes)
    assert run.result.stages[-1].status == XPASS and "no longer seen" in run.result.stages[-1].reason


def test_unexpected_errors_are_never_excused_by_a_known_break(tmp_path):
    run = upgrade_runner(tmp_path, written("local-serve", ".*", "known"))
    run.step("local-serve", "", lambda record: {}["bug"])
    assert run.result.stages[-1].status == FAIL


@pytest.fixture
def case(tmp_path, monkeypatch):
    folder = tmp_path / "probes"
    (folder / "_defaults").mkdir(parents=True)
    (folder / "uc").mkdir()
    monkeypatch.setattr(paths, "PROBES", folder)
    monkeypatch.setattr(paths, "PROBE_DEFAULTS", folder / "_defaults")
    return usecases.UseCase("uc", tmp_path, "sklearn", {}, ())


def test_known_breaks_match_from_and_to_on_the_release(case):
    (paths.PROBES / "uc" / "upgrade.yaml").write_text(
        "- {from: '<2', to: '>=2', stage: local-probe, seen: AttributeError, kind: retrain, reason: pickles}\n"
    )
    (paths.PROBE_DEFAULTS / "upgrade.yaml").write_text(
        "- {from: '<2', to: '<2', stage: model-env-serve, seen: virtualenv, kind: retrain, reason: no virtualenv}\n"
    )
    written_down = preflight.upgrade_breaks(case)
    config = preflight.UpgradeConfig(None, None, written_down)

    def reasons(stage, old, new):
        return [described.reason for _, described in config.known(stage, old, new)]

    assert reasons("local-probe", "1.2.0", "3.17.2") == ["pickles"]
    assert reasons("local-probe", "1.2.0+sbd.0", "2.0.0rc0") == ["pickles"]  # the release rule
    assert reasons("local-probe", "1.2.0", "1.30.1") == []
    assert reasons("model-env-serve", "1.2.0", "1.30.1") == ["no virtualenv"]
    assert reasons("local-serve", "1.2.0", "3.17.2") == []
    seen, described = config.known("local-probe", "1.2.0", "3.17.2")[0]
    assert seen.search("HTTP 400: AttributeError: x") and described.kind == "retrain"


@pytest.mark.parametrize(
    "text, where",
    [
        ("- {from: '<2', to: '>=2', stage: local-probe, seen: x, kind: retrain}\n", "key 'reason'"),
        ("- {from: '<2', to: '>=2', stage: local-probe, seen: x, kind: retrain, reason: x, tikcet: 1}\n", "'tikcet'"),
        ("- {from: '<<2', to: '>=2', stage: local-probe, seen: x, kind: retrain, reason: x}\n", "key 'from'"),
        ("- {from: '<2', to: '>=2', stage: train, seen: x, kind: retrain, reason: x}\n", "key 'stage'"),
        ("- {from: '<2', to: '>=2', stage: local-probe, kind: retrain, reason: x}\n", "key 'seen': entry 1"),
        ("- {from: '<2', to: '>=2', stage: local-probe, seen: '(', kind: retrain, reason: x}\n", "not a valid regular"),
        ("- {from: '<2', to: '>=2', stage: local-probe, seen: x, kind: rebuild, reason: x}\n", "key 'kind'"),
        ("{from: '<2'}\n", "must be a list"),
    ],
)
def test_broken_known_break_files_are_config_errors(case, text, where):
    (paths.PROBES / "uc" / "upgrade.yaml").write_text(text)
    with pytest.raises(ConfigError, match=where) as error:
        preflight.upgrade_breaks(case)
    assert str(error.value).startswith("probes/uc/upgrade.yaml") or "upgrade.yaml" in str(error.value)


def test_production_requests_and_their_protocol():
    label = registry.load_labels()["1.2.SBD.0"]
    config = preflight.check(label, "sklearn_elasticnet_wine")

    class Ctx:
        pass

    ctx = Ctx()
    ctx.config = config
    chosen = production_requests(ctx, "1.2.0")
    assert [p.name for p in chosen] == ["seed_pandas_split"]  # dataframe_split gets 500 on 1.2: not production's
    request, must_change = in_protocol_of(chosen[0], "3.17.2")
    assert must_change and "dataframe_split" in json.loads(request.body)
    same, changed = in_protocol_of(chosen[0], "1.30.1")
    assert not changed and same == chosen[0].request


def test_error_line_takes_the_exception_of_the_stack_trace():
    body = json.dumps({"message": "Encountered an unexpected error", "stack_trace": "Traceback\n  x\nKeyError: 'a'\n"})
    assert error_line(body) == "KeyError: 'a'"
    assert error_line(json.dumps({"message": "protocol changed"})) == "protocol changed"
    assert error_line("<html>  bad   gateway</html>") == "<html> bad gateway</html>"


def test_pin_remedy_reads_the_packages_uv_names_in_a_conflict():
    from rolloutcheck.cells.stages.upgrade import pin

    stderr = ("  × No solution found when resolving dependencies:\n  ╰─▶ Because mlflow==3.17.2 depends on "
              "gunicorn{sys_platform != 'win32'}<27 and gunicorn{sys_platform != 'win32'}==27.0.1, we can conclude "
              "that mlflow==3.17.2 cannot be used.\n      And because you require mlflow==3.17.2 and "
              "Scikit_Learn==1.1.3, we can conclude that your requirements are unsatisfiable.")  # fmt: skip
    assert {pin._name(m) for m in pin.CONFLICT.findall(stderr)} == {"mlflow", "gunicorn", "scikit-learn"}
    assert pin.uv_reason(stderr).startswith("Because mlflow==3.17.2") and "unsatisfiable" in pin.uv_reason(stderr)
    lock = "numpy==1.23.5 \\\n    --hash=sha256:00\nmlflow==1.2.0 \\\n    --hash=sha256:11\nmlflow-skinny==3.1 \\\n"
    assert pin.PIN.match("scikit-learn==1.1.3")[2] == "1.1.3"
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as folder:
        (Path(folder) / "requirements.lock").write_text(lock)
        assert pin.lock_pins(Path(folder) / "requirements.lock") == ["numpy==1.23.5"]  # mlflow itself is replaced


def test_what_the_model_s_libraries_need_is_read_off_the_production_lock():
    """scikit-learn records itself, not the numpy its pickle was built against: the lock's `# via` lines say it."""
    from rolloutcheck.envs import locks

    lock = paths.cell_env_dir("sklearn_elasticnet_wine", "1.2.SBD.0") / "requirements.lock"
    needed = locks.needed_by(lock, {"scikit-learn"})
    assert {"scikit-learn", "numpy", "scipy", "joblib", "threadpoolctl"} <= needed
    assert "mlflow" not in needed and "flask" not in needed  # what only mlflow needs is not the model's
    assert locks.needed_by(lock, {"not-in-the-lock"}) == set()


def test_every_difference_of_a_store_read_must_be_a_written_down_break_on_its_own(tmp_path):
    """Issue 43 item 2: one `lifecycle` line anywhere in a to-read diff filed every difference (a lost metric
    point too) as the deleted-experiment repair."""
    from rolloutcheck.stores.scripts import StoreScriptError

    lifecycle = "experiment 3 'lifecycle_stage': 'deleted' -> 'active'"
    lost = "run 5f2a: metric 'rmse' lost the point at step 7"
    known = written("to-read", r"lifecycle_stage.*deleted.*active", "deleted experiments read active", "data-repair")

    def differs(*items):
        def work(record):
            raise StoreScriptError(f"{len(items)} difference(s), first: {items[0]}", None, items)

        return work

    run = upgrade_runner(tmp_path, known)
    run.step("to-read", "", differs(lifecycle, lost))
    (record,) = run.result.stages
    assert record.status == XFAIL and record.reason.startswith(breaks.UNWRITTEN) and lost in record.reason
    assert [b["entry"] is not None for b in record.details["breaks"]] == [False, True]  # both, each as it is
    alone = upgrade_runner(tmp_path / "alone", known)
    alone.step("to-read", "", differs(lifecycle))
    (record,) = alone.result.stages
    assert record.status == XFAIL and record.reason.startswith("known break: deleted experiments read active")


def test_each_failing_request_of_a_broken_stage_is_judged_on_its_own(tmp_path):
    """Issue 43 item 8: once a stage matched, every failing request of it took that break's reason."""

    sklearn = "HTTP 400: AttributeError: 'str' object has no attribute 'transform'"
    known = written("local-probe", "AttributeError: 'str' object has no attribute 'transform'", "old pickle")
    run = upgrade_runner(tmp_path, known)

    def two_fail(record):
        run.result.probes += [ProbeResult("local:seed", FAIL, sklearn), ProbeResult("local:other", FAIL, "HTTP 500")]
        raise StageFailed(f"seed: {sklearn}")

    run.step("local-probe", "", two_fail)
    (record,) = run.result.stages
    seed, other = run.result.probes
    assert seed.status == XFAIL and seed.reason.startswith("known break: old pickle")
    assert other.status == XFAIL and other.reason == f"{breaks.UNWRITTEN} at local-probe: HTTP 500"
    assert [b["entry"] is None for b in record.details["breaks"]] == [False, True]  # the decision blocks on it


SHIPPED_LINES = {  # a real line of each shipped break, as cells of this repository saw it
    "sklearn pickle": "oracle for dataframe_split failed: AttributeError: 'str' object has no attribute 'transform'",
    "logged-models": "populate.py failed (exit 1): mlflow.exceptions.MlflowException: API request to endpoint "
    "/api/2.0/mlflow/logged-models failed with error code 404 != 200. Response body: '<!doctype html>",
    "maintenance": "snapshot.py failed (exit 1): mlflow.exceptions.MlflowException: The filesystem tracking backend "
    "(e.g., './mlruns') is in maintenance mode and will not receive further updates.",
    "lifecycle": "experiment 3 'lifecycle_stage': 'deleted' -> 'active'",
    "tensorflow module": "server exited with code 1: ModuleNotFoundError: No module named 'tensorflow'",
    "xgboost module": "server exited with code 1: ModuleNotFoundError: No module named 'xgboost'",
    "cloudpickle": "AttributeError: Can't get attribute '_class_setstate' on <module 'cloudpickle.cloudpickle'>",
    "scoring server": "ModuleNotFoundError: No module named 'mlflow.pyfunc.scoring_server'",
    "415": "HTTP 415: Unrecognized content type parameters: format. IMPORTANT: The MLflow Model scoring protocol",
    "host header": "serverclient.py failed (exit 1): mlflow.exceptions.MlflowException: API request to endpoint "
    "/api/2.0/mlflow/experiments/get failed with error code 403 != 200. Response body: 'Invalid Host header - "
    "possible DNS rebinding attack detected'",
    "proxied artifacts": "serverclient.py failed (exit 1): mlflow.exceptions.MlflowException: Could not find a "
    "registered artifact repository for: mlflow-artifacts:/6/c456fdb596af4b29a778df5747f78e0c/artifacts.",
    "permission api": "GET /api/2.0/mlflow/experiments/permissions/get: HTTP 404",
    "workers": "the same serving command started 1 worker process(es) on 3.17.2 where 1.2.SBD.0 started 4 "
    "(`mlflow models serve -m <model>`)",
    "experiments/list": "MlflowException: API request to endpoint /api/2.0/mlflow/experiments/list failed with error "
    "code 404 != 200. Response body: '<!doctype html>",
}
UNRELATED = [  # failures no shipped break is about: each must stay a break nobody wrote down
    "AttributeError: 'NoneType' object has no attribute 'predict'",
    "HTTP 404 from http://127.0.0.1:5000/invocations",
    "run 5f2a: metric 'rmse' lost the point at step 7",
    "ModuleNotFoundError: No module named 'sklearn'",
    "API request to endpoint /api/2.0/mlflow/experiments/get failed with error code 403 != 200. Response body: "
    "'Forbidden'",  # an auth refusal, not the Host check
    "API request to endpoint /api/2.0/mlflow/runs/get failed with error code 404 != 200",
]


def test_every_shipped_pattern_matches_its_own_failure_and_nothing_else():
    """Issue 43 item 8: `AttributeError` and `logged-models|HTTP 404|404` matched unrelated failures."""
    from rolloutcheck.inputs import stores as storeconfig

    written_down = [b for name in usecases.names() for b in preflight.upgrade_breaks(
        usecases.load(paths.usecase_dir(name)))] + list(storeconfig.load().breaks)  # fmt: skip
    patterns = {b.seen.pattern: b for b in written_down}
    for pattern, entry in patterns.items():
        own = [name for name, line in SHIPPED_LINES.items() if entry.seen.search(line)]
        assert len(own) == 1, (pattern, own)  # its own failure, and no other shipped one
        assert not [line for line in UNRELATED if entry.seen.search(line)], pattern
