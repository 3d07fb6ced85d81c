"""Preflight: every repository input of a cell is validated before any process starts, and each
problem is one line naming the file and the key (real files in a copy of the repository layout)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from rolloutcheck.cells.context import StageFailed
from rolloutcheck.cells.runner import StageRunner
from rolloutcheck.core import paths
from rolloutcheck.core.errors import ConfigError
from rolloutcheck.core.steplog import StepLog
from rolloutcheck.inputs import preflight, registry, usecases
from rolloutcheck.spec.results import FAIL, PASS, SKIP, CellResult, StageResult

LABEL = registry.Label("1.2.SBD.0", "mlflow==1.2.0")


@pytest.fixture
def repo(tmp_path, monkeypatch) -> Path:
    """usecases/ and probes/ copied from the repository, for one use case, plus the shared defaults."""
    for name in ("usecases", "probes"):
        (tmp_path / name).mkdir()
    shutil.copytree(paths.USECASES / "sklearn_elasticnet_wine", tmp_path / "usecases" / "uc")
    shutil.copytree(paths.PROBES / "sklearn_elasticnet_wine", tmp_path / "probes" / "uc")
    shutil.copytree(paths.PROBE_DEFAULTS, tmp_path / "probes" / "_defaults")
    monkeypatch.setattr(paths, "USECASES", tmp_path / "usecases")
    monkeypatch.setattr(paths, "PROBES", tmp_path / "probes")
    monkeypatch.setattr(paths, "PROBE_DEFAULTS", tmp_path / "probes" / "_defaults")
    return tmp_path


def problem(repo: Path) -> str:
    with pytest.raises(ConfigError) as error:
        preflight.check(LABEL, "uc")
    message = str(error.value)
    assert "\n" not in message and "Traceback" not in message
    return message


TEAM_PROBES = {"team_churn_pyenv": {"seed_pandas_split", "dataframe_split"},
               "team_housing_autolog": {"dataframe_split", "inputs"}, "team_iris_example": set()}  # fmt: skip


def test_the_shipped_use_cases_pass_preflight_on_every_label():
    for label in registry.load_labels().values():
        for name in usecases.names():
            config = preflight.check(label, name)
            assert {p.name for p in config.probes} == TEAM_PROBES.get(name, {"seed_pandas_split", "dataframe_split"})
            shared = [p for p in config.probes if p.name != "inputs"]
            assert all(p.expect_file.parent == paths.PROBE_DEFAULTS for p in shared)  # shared, not copied


def test_copy_passes(repo):
    assert preflight.check(LABEL, "uc").usecase.flavor == "sklearn"


@pytest.mark.parametrize(
    "file, text, where",
    [
        ("usecases/uc/conda.yaml", "dependencies: [python=3.11\n", "usecases/uc/conda.yaml: not valid YAML"),
        ("usecases/uc/conda.yaml", "name: x\n", "usecases/uc/conda.yaml: key 'dependencies'"),
        ("usecases/uc/usecase.yaml", "flavor: [unclosed\n", "usecases/uc/usecase.yaml: not valid YAML"),
        ("usecases/uc/usecase.yaml", "metrics: [rmse]\n", "usecases/uc/usecase.yaml: key 'flavor': missing"),
        ("usecases/uc/usecase.yaml", "flavor: sklearn\nmetrcs: [rmse]\n", "key 'metrcs': unknown key; known: flavor"),
        ("usecases/uc/usecase.yaml", "flavor: sklearn\nneeds_java: maybe\n", "key 'needs_java'"),
        ("usecases/uc/usecase.yaml", "flavor: sklearn\nrequirements_by_mlflow: {'<<2': [x]}\n", "'<<2'"),
        ("probes/uc/seed_pandas_split.expect.yaml", "- {mlflow: '<2', status: 200, golden: 5.1}\n", "golden"),
        (
            "probes/uc/seed_pandas_split.expect.yaml",
            "- {mlflow: '>=3', status: 200}\n",
            "no entry matches mlflow 1.2.0",
        ),
        ("probes/uc/seed_pandas_split.curl", "curl -d x http://[::1/x", "probes/uc/seed_pandas_split.curl"),
    ],
)
def test_each_broken_input_is_one_line_naming_file_and_key(repo, file, text, where):
    (repo / file).write_text(text)
    assert where in problem(repo)


def test_folder_without_mlproject_is_a_config_failure_not_invisible(repo):
    (repo / "usecases" / "uc" / "MLproject").rename(repo / "usecases" / "uc" / "MLProject.yaml")
    assert "uc" in usecases.names()
    assert "usecases/uc/MLproject: missing" in problem(repo) or "MLproject: missing" in problem(repo)


def test_use_case_without_stored_requests_is_probed_with_the_models_input_example(repo):
    """No *.curl is no longer a config failure: the model's logged input example is the probe (the
    probe stage fails saying so when the model logged none, tests/cells/test_e2e_projects.py)."""
    shutil.rmtree(repo / "probes" / "uc")
    config = preflight.check(LABEL, "uc")
    assert config.probes == ()
    assert "no stored requests: the probe is the input example the model logs" in preflight.project_note(config)


def test_a_stored_body_the_oracle_cannot_read_fails_config_before_anything_runs(repo):
    (repo / "probes" / "uc" / "dataframe_split.curl").write_text(
        "curl -X POST -H 'Content-Type: application/json' --data '{\"rows\": [[1]]}' http://127.0.0.1:1/invocations\n"
    )
    assert "dataframe_split.curl: the body is no request form a scoring server reads" in problem(repo)


def test_probe_without_any_expectation(repo):
    (repo / "probes" / "uc" / "extra.curl").write_text((repo / "probes" / "uc" / "dataframe_split.curl").read_text())
    assert "no expectation: add uc/extra.expect.yaml or _defaults/extra.expect.yaml" in problem(repo)


def test_a_use_case_file_overrides_the_shared_default(repo):
    own = repo / "probes" / "uc" / "dataframe_split.expect.yaml"
    own.write_text("- {mlflow: '>=0', status: 200}\n")
    config = preflight.check(LABEL, "uc")
    assert {p.name: p.expect_file for p in config.probes}["dataframe_split"] == own


def test_broken_registry_is_one_line_naming_file_label_and_key(tmp_path):
    bad = tmp_path / "versions.yaml"
    cases = {
        "labels:\n  x: {mlflow: [\n": "not valid YAML",
        "labels:\n  x: {description: no requirement}\n": "label 'x': key 'mlflow': missing",
        "labels:\n  x: {mlflow: mlflow==1, constriants: [a]}\n": "label 'x': unknown key 'constriants'; known: mlflow",
        "lables: {}\n": "unknown key 'lables'",
        "labels:\n  x: {mlflow: mlflow==1, constraints: pandas<2}\n": "label 'x': key 'constraints'",
    }
    for text, message in cases.items():
        bad.write_text(text)
        with pytest.raises(registry.RegistryError) as error:
            registry.load_labels(bad)
        assert str(error.value).startswith(str(bad)) and message in str(error.value), str(error.value)
        assert "\n" not in str(error.value)


def runner(tmp_path) -> StageRunner:
    return StageRunner(CellResult("l", "u", str(tmp_path)), StepLog("t", lambda m: None), tmp_path)


def test_an_unexpected_error_in_a_stage_fails_it_with_its_traceback_in_the_log(tmp_path):
    run = runner(tmp_path)

    def broken(record):
        {}["golden"]  # noqa: B018 - a bug in a stage

    assert run.step("config", "", lambda record: None)
    assert not run.step("lock", "", broken)
    assert not run.step("env", "", lambda record: None)  # skipped: never runs after a failure
    run.finish()
    statuses = {s.stage: s.status for s in run.result.stages}
    assert statuses["lock"] == FAIL and statuses["env"] == SKIP and run.result.status == FAIL
    assert "unexpected KeyError" in run.result.failure().reason
    assert "Traceback" in (tmp_path / "lock.log").read_text()


@pytest.mark.parametrize(
    "outside, reason",
    [
        (lambda run: run.crashed(TypeError("float object is not iterable")), "unexpected TypeError: float object"),
        # SIGHUP landing outside a stage's work (seen while a stage's first line was printed): the result
        # still says where the run stopped, not only stages skipped as "run ended early"
        (lambda run: run.interrupted(KeyboardInterrupt("signal SIGHUP")), "interrupted (signal SIGHUP)"),
    ],
    ids=["error", "interrupt"],
)
def test_what_happens_between_stages_fails_the_stage_that_would_have_run(tmp_path, outside, reason):
    run = runner(tmp_path)
    for name in ("config", "lock", "env", "train"):
        run.step(name, "", lambda record: None)
    outside(run)
    run.finish()
    failure = run.result.failure()
    assert (failure.stage, run.result.status) == ("tracking", FAIL)
    assert failure.reason.startswith(reason), failure.reason


def test_an_interrupt_while_a_stage_line_is_printed_fails_that_stage(tmp_path):
    def printer(line):
        if line.endswith("serve: starting"):
            raise KeyboardInterrupt("signal SIGHUP")

    run = StageRunner(CellResult("l", "u", str(tmp_path)), StepLog("t", printer), tmp_path)
    assert run.step("config", "", lambda record: None)
    with pytest.raises(KeyboardInterrupt):
        run.step("serve", "starting", lambda record: None)
    serve = [s for s in run.result.stages if s.stage == "serve"]  # recorded by the stage itself
    assert len(serve) == 1 and (serve[0].status, serve[0].reason) == (FAIL, "interrupted (signal SIGHUP)")


def test_a_failed_background_start_fails_its_stage(tmp_path):
    class Stage:
        NAME = "tracking"

        @staticmethod
        def describe(ctx):
            return ""

        @staticmethod
        def start(ctx, state):
            raise ValueError("http://[::1/x")

        @staticmethod
        def run(ctx, state, record):
            raise AssertionError("never reached")

    run = runner(tmp_path)
    run.start(Stage, None, None)
    assert not run.run(Stage, None, None)
    assert [s.stage for s in run.result.stages] == ["tracking"]
    assert run.result.stages[0].status == FAIL


def test_stage_failed_keeps_its_reason(tmp_path):
    run = runner(tmp_path)

    def fails(record: StageResult):
        raise StageFailed("stale lock envs/x: refresh with `nox -s lock-x`")

    run.step("config", "", fails)
    assert run.result.stages[0].reason.startswith("stale lock") and run.result.stages[0].status == FAIL
    assert PASS not in {s.status for s in run.result.stages}


def test_cell_processes_do_not_inherit_the_tools_environment():
    """nox points UV_PYTHON at the tool's env: a cell's `uv` (mlflow's env manager) must not install there."""
    from rolloutcheck.core.settings import Settings

    settings = Settings.from_environ({"UV_PYTHON": "/tool", "UV_PROJECT_ENVIRONMENT": "/tool", "VIRTUAL_ENV": "/tool",
                                      "PATH": "/bin", "HTTP_PROXY": "http://proxy:1",
                                      "PYTHONDONTWRITEBYTECODE": "1"})  # fmt: skip
    environ = settings.process_environ()
    assert "PYTHONDONTWRITEBYTECODE" not in environ  # every mlflow process would compile its modules again
    assert "UV_PYTHON" not in environ and "UV_PROJECT_ENVIRONMENT" not in environ and "VIRTUAL_ENV" not in environ
    assert environ["PATH"] == "/bin" and environ["HTTP_PROXY"] == "http://proxy:1"  # installs keep the proxy
    assert environ["ROLLOUT_RUN_DIR"] == str(settings.run_dir)


def test_a_finding_kind_is_refused_at_a_stage_its_remedy_cannot_act_on(tmp_path):
    """Issue 43 item 3: `kind: retrain` on `db-upgrade` was "proven" by the use case's validate cell."""
    from rolloutcheck.inputs import stores as storeconfig

    path = tmp_path / "stores.yaml"
    entry = {"from": "<3", "to": ">=3", "stage": "db-upgrade", "seen": "x", "kind": "retrain", "reason": "r"}
    with pytest.raises(ConfigError, match="a retrain break cannot be at stage db-upgrade; retrain fits local-serve"):
        preflight.parse_breaks([entry], path, storeconfig.BREAKABLE)
    assert preflight.parse_breaks([entry | {"kind": "configuration"}], path, storeconfig.BREAKABLE)
    assert storeconfig.load().breaks  # every shipped break fits its stage
