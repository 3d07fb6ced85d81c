"""Upgrade cells, the parts without servers: known breaks, branches of the stage runner, which
requests are production's, and the one line a scoring server's refusal is reduced to."""

from __future__ import annotations

import json

import pytest

from rolloutcheck.cells.context import StageFailed
from rolloutcheck.cells.runner import StageRunner
from rolloutcheck.cells.stages.upgrade.replay import error_line, in_protocol_of, production_requests
from rolloutcheck.core import paths
from rolloutcheck.core.errors import ConfigError
from rolloutcheck.core.steplog import StepLog
from rolloutcheck.inputs import preflight, registry, usecases
from rolloutcheck.models.results import FAIL, PASS, SKIP, XFAIL, XPASS, CellResult, ProbeResult


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


def test_a_known_break_is_xfail_and_the_rest_of_its_branch_too(tmp_path):
    def known(stage):
        return "scikit-learn 1.1 pickles fail on 1.9" if stage == "local-probe" else None

    run = upgrade_runner(tmp_path, known)
    for name in ("config", "from-lock", "from-env", "from-train", "from-tracking", "from-serve", "to-lock", "to-env"):
        run.step(name, "", passes)
    with run.branch():
        run.step("local-serve", "", passes)
        run.step("local-probe", "", fails)
        run.step("speed", "", passes)
    with run.branch():
        run.step("model-env-serve", "", passes)
        run.step("model-env-probe", "", passes)
    with run.branch():
        run.step("pin-remedy", "", passes)  # every declared stage must run for a PASS
    run.finish()
    statuses = {s.stage: s.status for s in run.result.stages}
    assert statuses["local-probe"] == XFAIL and statuses["speed"] == XFAIL and statuses["model-env-probe"] == PASS
    assert "scikit-learn 1.1 pickles" in run.result.stages[9].reason and "AttributeError" in run.result.stages[9].reason
    assert run.result.status == PASS  # every stage passed or is a written-down break


def test_requests_that_failed_in_a_known_break_are_xfail_and_others_stay_failed(tmp_path):
    def known(stage):
        return "pickles fail on 1.9" if stage == "local-probe" else None

    def probes_fail(record):
        run.result.probes.append(ProbeResult("local:a", FAIL, "HTTP 400"))
        raise StageFailed("a: HTTP 400")

    run = upgrade_runner(tmp_path, known)
    run.result.probes.append(ProbeResult("earlier", FAIL, "HTTP 500"))  # not this stage's: left alone
    with run.branch():
        run.step("local-probe", "", probes_fail)
    assert [(p.name, p.status) for p in run.result.probes] == [("earlier", FAIL), ("local:a", XFAIL)]
    assert run.result.probes[1].reason == "known break: pickles fail on 1.9 (seen: HTTP 400)"
    with run.branch():
        run.step("model-env-probe", "", probes_fail)  # no known break here: a failure
    assert run.result.probes[2].status == FAIL and run.result.stages[-1].status == FAIL


def test_a_known_break_that_no_longer_happens_is_xpass(tmp_path):
    run = upgrade_runner(tmp_path, lambda stage: "was broken" if stage == "local-serve" else None)
    run.step("config", "", passes)
    run.step("local-serve", "", passes)
    assert run.result.stages[-1].status == XPASS and "no longer seen" in run.result.stages[-1].reason


def test_unexpected_errors_are_never_excused_by_a_known_break(tmp_path):
    run = upgrade_runner(tmp_path, lambda stage: "known")
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
        "- {from: '<2', to: '>=2', stage: local-probe, reason: pickles}\n"
    )
    (paths.PROBE_DEFAULTS / "upgrade.yaml").write_text(
        "- {from: '<2', to: '<2', stage: model-env-serve, reason: no virtualenv in 1.x envs}\n"
    )
    breaks = preflight.upgrade_breaks(case)
    config = preflight.UpgradeConfig(None, None, breaks)
    assert config.known("local-probe", "1.2.0", "3.17.2").startswith("pickles")
    assert config.known("local-probe", "1.2.0+sbd.0", "2.0.0rc0").startswith("pickles")  # the release rule
    assert config.known("local-probe", "1.2.0", "1.30.1") is None
    assert config.known("model-env-serve", "1.2.0", "1.30.1").startswith("no virtualenv")
    assert config.known("local-serve", "1.2.0", "3.17.2") is None


@pytest.mark.parametrize(
    "text, where",
    [
        ("- {from: '<2', to: '>=2', stage: local-probe}\n", "key 'reason'"),
        ("- {from: '<2', to: '>=2', stage: local-probe, reason: x, tikcet: 1}\n", "key 'tikcet'"),
        ("- {from: '<<2', to: '>=2', stage: local-probe, reason: x}\n", "key 'from'"),
        ("- {from: '<2', to: '>=2', stage: train, reason: x}\n", "key 'stage'"),
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
