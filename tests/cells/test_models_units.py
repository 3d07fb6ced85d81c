"""Models cells, the parts without servers: envs/models.yaml refused or read, a break of production's model
as a finding (never a pass, never an XPASS), its place in the decision and the model table."""

from __future__ import annotations

import shutil

import pytest

from rolloutcheck.cells.context import StageFailed
from rolloutcheck.cells.runner import StageRunner
from rolloutcheck.core.errors import ConfigError
from rolloutcheck.core.steplog import StepLog
from rolloutcheck.inputs import modelselect
from rolloutcheck.reports import decision, summary
from rolloutcheck.reports.decision import Verdict
from rolloutcheck.spec.kinds import MODELS
from rolloutcheck.spec.results import FAIL, FINDING, PASS, XFAIL, CellResult, ProbeResult, StageResult
from rolloutcheck.stores import production


def write(tmp_path, text: str):
    path = tmp_path / "models.yaml"
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("select:\n  - registered: '*'\n    stage: Production\n    owner: me\n", "owner"),
        ("select:\n  - registered: '*'\n", "registered"),
        ("select:\n  - registered: a\n    experiment: b\n    stage: P\n", None),
        ("select:\n  - experiment: live\n    tags: [live]\n", "tags"),
        ("limit: 0\nselect:\n  - experiment: live\n", "limit"),
        ("limits: 3\nselect:\n  - experiment: live\n", "limits"),
        ("select: []\n", "select"),
    ],
)
def test_a_selection_the_tool_cannot_honour_is_one_line_naming_its_key(tmp_path, text, key):
    with pytest.raises(ConfigError) as raised:
        modelselect.load(write(tmp_path, text))
    assert "\n" not in str(raised.value) and "models.yaml" in str(raised.value)
    if key:
        assert key in str(raised.value)


def test_the_shipped_selection_reads_registry_entries_and_run_entries():
    selection = modelselect.load()
    assert any(isinstance(e, modelselect.Registered) and e.stage == "Production" for e in selection.entries)
    assert any(isinstance(e, modelselect.Registered) and e.alias == "champion" for e in selection.entries)
    runs = [e for e in selection.entries if isinstance(e, modelselect.Runs)]
    assert runs and runs[0].tags == {"live": "true"}


def test_a_copy_that_is_not_there_or_not_a_store_is_one_line(tmp_path):
    for given, words in ((str(tmp_path / "nope.db"), "does not exist"), ("redis://u:secretpw99@h/db", "is no SQLite")):
        with pytest.raises(production.CopyError) as raised:
            production.Copy(given)
        assert words in str(raised.value) and "\n" not in str(raised.value) and "secretpw99" not in str(raised.value)
    with pytest.raises(production.CopyError) as raised:  # psql cannot reach it: one line, the password nowhere
        production.select("postgresql://u:secretpw99@127.0.0.1:9/db", modelselect.load())
    assert "not a readable tracking store" in str(raised.value) and "secretpw99" not in str(raised.value)
    if shutil.which("mariadb"):  # the MariaDB client cannot reach it either: one line, the password nowhere
        with pytest.raises(production.CopyError) as raised:
            production.select("mysql://u:secretpw99@127.0.0.1:9/db", modelselect.load())
        assert "not a readable tracking store" in str(raised.value) and "secretpw99" not in str(raised.value)
    (tmp_path / "broken.db").write_text("not sqlite")
    with pytest.raises(production.CopyError, match="not a readable tracking store"):
        production.select(str(tmp_path / "broken.db"), modelselect.load())


def test_a_recorded_artifact_path_is_found_again_under_the_copy(tmp_path):
    model = tmp_path / "copy" / "artifacts" / "1" / "abc" / "artifacts" / "model"
    model.mkdir(parents=True)
    copy_db = tmp_path / "copy" / "mlflow.db"
    copy_db.write_bytes(b"")
    copy = production.Copy(str(copy_db))
    assert copy.locate("file:///srv/prod/artifacts/1/abc/artifacts/model") == model
    assert copy.locate("s3://bucket/1/abc/artifacts/model") is None


def runner(tmp_path) -> StageRunner:
    result = CellResult("3.17.2", "wine-v1", str(tmp_path), kind="models", from_label="1.30.1")
    breakable = set(MODELS.breakable())
    return StageRunner(result, StepLog("t", lambda m: None), tmp_path, finding=breakable.__contains__)


def test_a_break_of_production_s_model_is_a_finding_and_a_pass_stays_a_pass(tmp_path):
    run = runner(tmp_path)

    def breaks(record):
        run.result.probes.append(ProbeResult("local:logged-input-example", FAIL, "HTTP 500: dtype size changed"))
        raise StageFailed("logged-input-example: HTTP 500: dtype size changed")

    run.step("config", "", lambda r: None)
    with run.branch():
        run.step("local-serve", "", lambda r: None)
        run.step("local-probe", "", breaks)
        run.step("speed", "", lambda r: None)
    run.step("to-env", "", lambda r: None)  # not breakable: passes as a plain pass
    statuses = {s.stage: (s.status, s.reason) for s in run.result.stages}
    assert statuses["local-serve"] == (PASS, "")  # no XPASS: nobody wrote a break down
    assert statuses["local-probe"][0] == XFAIL and statuses["local-probe"][1].startswith(FINDING)
    assert statuses["speed"][0] == XFAIL and "not run" in statuses["speed"][1]
    assert run.result.probes[0].status == XFAIL and run.result.probes[0].reason.startswith(FINDING)


def test_a_failure_outside_the_old_model_s_stages_still_fails_the_cell(tmp_path):
    run = runner(tmp_path)
    run.step("from-probe", "", lambda r: (_ for _ in ()).throw(StageFailed("production does not answer")))
    assert run.result.stages[0].status == FAIL


def models_cell(proven: bool) -> CellResult:
    broken = {"local-serve": f"{FINDING}: server exited with code 1: ValueError: numpy.dtype size changed"}
    stages = [StageResult(s, XFAIL if s in broken else PASS, broken.get(s, "fine")) for s in MODELS.stages()]
    cell = CellResult("3.17.2", "wine-elasticnet-v1", "/r/m", kind="models", from_label="1.30.1", stages=stages,
                      flavor="sklearn")  # fmt: skip
    shown = "registered model wine-elasticnet v1 (stage Production)"
    cell.upgrade["model"] = {"id": "wine-elasticnet-v1", "shown": shown, "flavor": "sklearn"}
    outcome = {"name": "nearest-production", "folder": "/r/m/remedies/3-nearest-production", "requirements": []}
    if proven:
        outcome |= {"outcome": "proven", "pins": ["numpy==1.26.4"], "reason": "2 production request(s) answered"}
    else:
        outcome |= {"outcome": "still fails", "reason": "HTTP 500"}
    cell.upgrade["pin_remedies"] = [outcome]
    return cell


def test_a_broken_model_with_a_proven_pin_is_an_action_naming_the_registered_model():
    made = decision.decide([models_cell(proven=True)])
    (finding,) = made.findings
    assert made.verdict is Verdict.GO_WITH_ACTIONS and made.exit_code == 10
    assert finding.hits[0] == "registered model wine-elasticnet v1 (stage Production)"
    assert "numpy==1.26.4" in finding.remedy and finding.proof and "wine-elasticnet v1" in finding.remedy


def test_a_broken_model_without_a_proven_remedy_blocks_the_rollout():
    made = decision.decide([models_cell(proven=False)])
    assert made.verdict is Verdict.NO_GO and made.findings[0].blocking
    assert "still fails" in made.findings[0].remedy


def test_the_model_table_names_the_model_both_ways_and_the_answers():
    cell = models_cell(proven=True)
    cell.probes = [ProbeResult("local:logged-input-example", XFAIL, "x"), ProbeResult("model-env:x", PASS, "ok")]
    cell.speed = {"logged-input-example": {"from": {"p95_ms": 18.4}, "to": {"p95_ms": 20.1}}}
    row = summary.model_row(cell)
    assert row[0].startswith("registered model wine-elasticnet v1") and row[1] == "sklearn"
    assert row[2] == "1.30.1 -> 3.17.2" and row[5] == "1 of 2" and row[6] == "18 -> 20 ms"
    assert row[3] == "breaks: local-serve" and row[4] == "XFAIL, PASS / PASS, PASS" and "numpy==1.26.4" in row[7]
    assert "Production's models" in summary.markdown([cell])


def test_a_copys_model_in_an_object_store_is_fetched_and_one_behind_the_proxy_is_not_checked_saying_how():
    """Issue 40: `local_path()` returned None for s3:// and mlflow-artifacts: sources and the model's cell failed at
    config. A stand-in for the copy (its recorded run only): what _registered makes of each location."""
    from rolloutcheck.inputs.modelselect import Registered
    from rolloutcheck.stores import production as prod

    class StandInCopy:  # a copy whose recorded artifact locations are not local folders
        root = None

        def locate(self, recorded):
            return None

    assert prod.remote_uri("s3://bucket/a/model") == "s3://bucket/a/model" and prod.remote_uri("/a/b") is None
    assert prod.remote_uri("mlflow-artifacts:/1/abc/artifacts") is None  # only the server hands those out
    version = prod.Version("wine", "1", "runs:/r1/model", "r1", "Production", ())
    for root, remote, problem in [
        ("s3://prod/live/r1/artifacts", "s3://prod/live/r1/artifacts/model", None),
        ("mlflow-artifacts:/1/r1/artifacts", None, "behind the artifact proxy of production's tracking server"),
    ]:
        runs = {"r1": prod.Run("r1", "1", root, {})}
        model = prod._registered(StandInCopy(), Registered("wine"), version, runs)
        assert model.remote == remote and (problem is None) == (model.problem is None), model
        assert problem is None or problem in model.problem
