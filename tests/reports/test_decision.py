"""The rollout decision: findings, their proofs, acceptances, verdicts and exit codes."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from rolloutcheck.core.errors import ConfigError
from rolloutcheck.inputs import acceptances, registry
from rolloutcheck.inputs.acceptances import Acceptance
from rolloutcheck.reports import decision, merge
from rolloutcheck.reports.decision import Verdict
from rolloutcheck.spec import breaks, layout
from rolloutcheck.spec.kinds import STORE_UPGRADE, UPGRADE, VALIDATE
from rolloutcheck.spec.results import (
    BAD_INPUT,
    FAIL,
    FINDING,
    NOT_CHECKED,
    PASS,
    SKIP,
    XFAIL,
    CellResult,
    ProbeResult,
    StageResult,
)
from synthetic import probe, write_cell

SEED = "known break: mlflow 2.0 changed the scoring protocol (seen: HTTP 415)"
KINDS = {"new-client": "rollout-order", "to-read": "data-repair", "migrated-snapshot": "data-repair"}  # else retrain


def broke(stage: str, reason: str, log: str | None = None, kind: str | None = None) -> StageResult:
    """A stage XFAIL with the written-down break it matched, as the runner records it."""
    entry = {"source": "probes/uc/upgrade.yaml", "stage": stage, "seen": "x",
             "kind": kind or KINDS.get(stage, "retrain"), "reason": reason}  # fmt: skip
    return StageResult(stage, XFAIL, f"known break: {reason} (seen: x)", log=log,
                       details={"breaks": [{"stage": stage, "seen": "x", "entry": entry}]})  # fmt: skip


def validate(label="3.17.2", usecase="uc", xfail=False, failing=None, folder="/r/a") -> CellResult:
    stages = [StageResult(s, PASS, "fine") for s in VALIDATE.stages()]
    if failing:
        stages = [StageResult(s.stage, FAIL if s.stage == failing else s.status, "boom") for s in stages]
    probes = [ProbeResult("dataframe_split", PASS, "HTTP 200")]
    if xfail:
        probes.append(ProbeResult("seed_pandas_split", XFAIL, SEED, 415, 0.1, "probes/uc/seed_pandas_split.curl"))
    return CellResult(label, usecase, folder, mlflow_version=label, stages=stages, probes=probes)


def upgrade(label="3.17.2", usecase="uc", broken=(), migrated=True) -> CellResult:
    stages = [broke(s, "old pickle", f"/r/up/logs/{s}.log") if s in broken else
              StageResult(s, PASS, "fine", log=f"/r/up/logs/{s}.log") for s in UPGRADE.stages()]  # fmt: skip
    cell = CellResult(label, usecase, "/r/up", kind="upgrade", from_label="1.2.SBD.0", stages=stages)
    if migrated:
        proof = "HTTP 200 from mlflow 3.17.2, predictions equal the as-logged answers"
        curl = "curl -d '{\"dataframe_split\": ...}'"
        cell.upgrade["migrations"] = [{"probe": "seed_pandas_split", "curl": curl, "proof": proof}]
    return cell


def store(kind="client", broken=("new-client",)) -> CellResult:
    stages = [broke(s, f"{s} is broken") if s in broken else StageResult(s, PASS, "fine")
              for s in STORE_UPGRADE.stages(kind)]  # fmt: skip
    return CellResult("3.17.2", kind, "/r/st", kind="store-upgrade", from_label="1.2.SBD.0", stages=stages)


def test_no_finding_is_go_and_exits_0():
    made = decision.decide([validate()])
    assert made.verdict is Verdict.GO and made.exit_code == 0 and not made.findings


def test_a_known_break_without_a_proven_remedy_is_no_go():
    """The seed's request refused with 415 is an XFAIL, and the *test* passes; without the upgrade
    cell that proves the migrated request, nothing shows the clients a way: NO-GO."""
    made = decision.decide([validate(xfail=True)])
    assert made.verdict is Verdict.NO_GO and made.exit_code == 1
    (finding,) = made.findings
    assert finding.kind == decision.CLIENT_REQUEST and finding.blocking and "seed_pandas_split" in finding.hits[0]


def test_a_proven_migration_is_an_action_with_the_new_curl():
    made = decision.decide([validate(xfail=True), upgrade()])
    assert made.verdict is Verdict.GO_WITH_ACTIONS and made.exit_code == 10
    (finding,) = made.findings
    assert "dataframe_split" in finding.remedy and finding.proof.startswith("HTTP 200")
    assert "/r/up" in finding.evidence
    assert "GO WITH ACTIONS" in decision.markdown(made) and finding.id in decision.markdown(made)


def test_an_old_model_that_fails_needs_a_retrain_proven_by_the_validate_cell():
    broken = ("local-serve", "model-env-serve")
    alone = decision.decide([upgrade(broken=broken)])
    assert alone.verdict is Verdict.NO_GO and {f.kind for f in alone.findings} == {decision.RETRAIN}
    both = decision.decide([upgrade(broken=broken), validate()])
    assert both.verdict is Verdict.GO_WITH_ACTIONS
    assert all("validate cell 3.17.2 x uc passed" in f.proof for f in both.findings)


def test_a_retrain_is_proven_only_by_a_validate_cell_whose_every_stage_passed():
    """Issue 43 item 3: a validate cell whose stage broke as written down (XFAIL) counted as the proof."""
    broken = ("local-serve", "model-env-serve")
    xfailed = validate()
    xfailed.stages[4] = broke(xfailed.stages[4].stage, "the retrained model breaks too")
    assert xfailed.status == PASS  # a known break counts as passed for the cell ...
    made = decision.decide([upgrade(broken=broken), xfailed])
    retrain = [f for f in made.findings if f.kind == decision.RETRAIN]
    assert retrain and all(f.blocking for f in retrain) and made.verdict is Verdict.NO_GO  # ... not as the proof


def test_a_known_break_on_the_trunk_that_skips_the_rest_of_the_cell_blocks():
    """Issue 43 item 3: one YAML entry at check-upgrade skipped the whole migration and read GO WITH ACTIONS."""
    stages = [StageResult(s, PASS, "fine") for s in STORE_UPGRADE.stages("sqlite")]
    at = [s.stage for s in stages].index("check-upgrade")
    stages[at] = broke("check-upgrade", "3.x refuses", kind="configuration")
    for later in stages[at + 1 :]:
        later.status, later.reason, later.details = XFAIL, "not run: check-upgrade broke (a finding)", {
            "after": "check-upgrade"}  # fmt: skip
    cell = CellResult("3.17.2", "sqlite", "/r/st", kind="store-upgrade", from_label="1.2.SBD.0", stages=stages)
    made = decision.decide([cell])
    assert made.verdict is Verdict.NO_GO
    (row,) = made.failures
    assert row["stage"] == "check-upgrade" and "did not run after the known break at check-upgrade" in row["reason"]
    assert "db-upgrade" in row["reason"] and "rollback" in row["reason"]
    # inside a branch it stays that branch's: the store's other checks ran
    served = upgrade(broken=("local-serve",))
    served.stages[[s.stage for s in served.stages].index("local-probe")] = StageResult(
        "local-probe", XFAIL, "not run: local-serve broke (a finding)", details={"after": "local-serve"}
    )
    assert not decision.decide([served, validate()]).failures


def test_new_clients_on_an_old_server_is_an_order_of_the_rollout():
    (finding,) = decision.decide([store()]).findings
    assert finding.kind == decision.ORDER and "before the clients" in finding.remedy and finding.proof


def test_a_file_store_setting_is_proven_by_its_own_read_and_a_migration_only_where_it_offers_one():
    """Issue 43 item 2: a passing `migrate` proved any configuration break of a file-store cell, and a read
    with the setting proved it whatever else that read found."""

    def configured(reason: str, *unwritten: str) -> decision.Finding:
        to_read = broke("to-read", reason, kind="configuration")
        to_read.details["opened"] = {"MLFLOW_ALLOW_FILE_STORE": "true"}
        to_read.details["breaks"] += [{"stage": "to-read", "seen": line, "entry": None} for line in unwritten]
        cell = store("filestore", broken=())
        cell.stages = [to_read if s.stage == "to-read" else s for s in cell.stages]
        return next(f for f in decision.decide([cell]).findings if f.kind == decision.CONFIGURATION)

    setting = "3.x opens a file store only with MLFLOW_ALLOW_FILE_STORE=true"
    assert "with MLFLOW_ALLOW_FILE_STORE=true the 3.17.2 client opened" in configured(setting).proof
    lost = "run 5f2a: metric 'rmse' lost the point at step 7"
    assert configured(setting, lost).blocking  # that read also lost data: it proves nothing; no migration offered
    offered = configured(setting + ", or migrate it with `mlflow migrate-filestore`", lost)
    assert not offered.blocking and offered.proof.startswith("`mlflow migrate-filestore` moved it into SQLite")


def test_a_file_store_repair_without_proof_blocks():
    made = decision.decide([store("filestore", broken=("to-read",))])
    assert made.verdict is Verdict.NO_GO and made.findings[0].kind == decision.DATA_REPAIR


def test_a_failed_or_missing_cell_is_no_go_whatever_else():
    assert decision.decide([validate(failing="serve")]).verdict is Verdict.NO_GO
    missing = CellResult("3.17.2", "uc", "/r/x", problem="missing: the selection asked for it, no result")
    made = decision.decide([validate(), missing])
    assert made.verdict is Verdict.NO_GO and made.failures[0]["stage"] == "cell"
    assert decision.decide([]).verdict is Verdict.NO_GO  # nothing reported is never a GO


def test_ids_are_stable_across_runs():
    first = decision.decide([validate(xfail=True, folder="/r/one")]).findings[0]
    again = validate(xfail=True, folder="/r/two")
    again.probes[1].reason = "known break: worded differently (seen: HTTP 415 Unsupported)"
    assert decision.decide([again]).findings[0].id == first.id
    other = decision.decide([validate(xfail=True, usecase="other")]).findings[0]
    assert other.id == first.id and other.members != first.members  # one break, one action; each cell's own id
    assert decision.decide([validate(label="2.22.5", xfail=True)]).findings[0].id != first.id


def test_acceptances_match_lapse_and_go_stale():
    fid = decision.decide([validate(xfail=True)]).findings[0].id
    today = dt.date(2026, 12, 1)
    accepted = [Acceptance(fid, "ops@example.com", "clients move in the same release", dt.date(2027, 1, 1))]
    made = decision.decide([validate(xfail=True)], accepted, today)
    assert made.verdict is Verdict.GO_WITH_ACTIONS and made.findings[0].accepted["by"] == "ops@example.com"
    lapsed = decision.decide([validate(xfail=True)], accepted, dt.date(2027, 2, 1))
    assert lapsed.verdict is Verdict.NO_GO and "lapsed" in lapsed.findings[0].note
    stale = decision.decide([validate()], accepted, today)
    assert stale.verdict is Verdict.GO and stale.stale[0]["id"] == fid


def test_an_acceptance_of_one_break_of_a_merged_finding_covers_that_break_only():
    """Issue 43 item 5: accepting one member accepted the others, an unproven one included."""
    cells = [validate("3.17.2", "a", xfail=True, folder="/r/a"), validate("3.17.2", "b", xfail=True, folder="/r/b")]
    (merged,) = decision.decide(cells).findings  # the seed's request on both: one client request change
    assert len(merged.members) == 2 and merged.blocking  # no upgrade cell migrated it: not proven
    one = [Acceptance(merged.members[0], "ops", "a is retired", dt.date(2027, 1, 1))]
    made = decision.decide(cells, one, dt.date(2026, 12, 1))
    (finding,) = made.findings
    assert finding.blocking and made.verdict is Verdict.NO_GO
    assert f"for {merged.members[0]} only; not covered: {merged.members[1]}" in finding.note
    whole = [Acceptance(merged.id, "ops", "both retired", dt.date(2027, 1, 1))]
    assert decision.decide(cells, whole, dt.date(2026, 12, 1)).verdict is Verdict.GO_WITH_ACTIONS
    alone = decision.decide(cells[:1], one, dt.date(2026, 12, 1))  # a finding of that one break only: covered
    assert alone.findings[0].accepted and alone.verdict is Verdict.GO_WITH_ACTIONS


def test_unwritten_breaks_that_differ_in_their_numbers_are_two_causes():
    """Issue 43 item 5: `served [5.61] != as logged [5.6100001]` and `served [0.0] != as logged [5.61]` were one id."""
    ids = set()
    for line in ("served [5.61] != as logged [5.6100001]", "served [0.0] != as logged [5.61]"):
        stage = StageResult("local-probe", XFAIL, f"{breaks.UNWRITTEN} at local-probe: {line}",
                            details={"breaks": [{"stage": "local-probe", "seen": line, "entry": None}]})  # fmt: skip
        cell = upgrade()
        cell.stages = [stage if s.stage == "local-probe" else s for s in cell.stages]
        ids |= {m for f in decision.decide([cell]).findings for m in f.members}
    assert len(ids) == 2
    port = "refused by http://127.0.0.1:{}/invocations"
    assert breaks.same_line(port.format(4242), port.format(5151)) and not breaks.same_line("1 of 200", "187 of 200")


@pytest.mark.parametrize(
    "text, key",
    [
        ("accept:\n  - {id: F-1, by: me}\n", "accept[0].why"),
        ("accept:\n  - {id: F-1, by: me, why: ok, whom: x}\n", "accept[0].whom"),
        ("accept:\n  - {id: F-1, by: me, why: ok, until: soon}\n", "accept[0].until"),
        ("accepted: []\n", "accepted"),
    ],
)
def test_a_malformed_rollout_file_is_one_line_naming_the_key(tmp_path, text, key):
    path = tmp_path / "rollout.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as error:
        acceptances.load(path)
    assert key in str(error.value) and "rollout.yaml" in str(error.value) and "\n" not in str(error.value)


def test_decision_of_a_merged_run_equals_that_of_one_run(tmp_path):
    xfail = ProbeResult("seed_pandas_split", XFAIL, SEED, 415, 0.1, "probes/uc/seed_pandas_split.curl")
    one, a, b = tmp_path / "runs" / "one", tmp_path / "a", tmp_path / "b"
    for run, labels in ((one, ("1.2.0", "3.17.2")), (a, ("1.2.0",)), (b, ("3.17.2",))):
        for label in labels:
            write_cell(run, label, "uc", probes=(probe(), xfail) if label == "3.17.2" else (probe(),))
    merge.merge([a, b], tmp_path / "runs" / "merged")
    made = [decision.decide(layout.load_cells(r)) for r in (one, tmp_path / "runs" / "merged")]
    assert made[0].verdict == made[1].verdict == Verdict.NO_GO
    assert [f.id for f in made[0].findings] == [f.id for f in made[1].findings]
    decision.write(one, made[0])
    again = decision.decide(layout.load_cells(one), previous=decision.previous_decision(tmp_path / "runs" / "merged",
                                                                                          made[0].labels))  # fmt: skip
    assert again.changed["new"] == [] and again.changed["verdict_before"] == "NO-GO"
    assert json.loads((one / decision.DECISION_JSON).read_text())["exit_code"] == 1


def test_decide_session_writes_the_banner_and_exits_with_the_verdict(tmp_path):
    """`nox -s decide -- RUN` on a real run folder: decision files, the report's banner, exit code 1."""
    import os
    import subprocess

    from sessions import NOX, ROOT

    run = tmp_path / "runs" / "r"
    xfail = ProbeResult("seed_pandas_split", XFAIL, SEED, 415, 0.1, "probes/uc/seed_pandas_split.curl")
    write_cell(run, "3.17.2", "sklearn_elasticnet_wine", probes=(probe(), xfail))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NOX", "ROLLOUT_"))}
    done = subprocess.run([NOX, "-s", "decide", "--", str(run)], cwd=ROOT, capture_output=True, text=True,
                          env={**env, "ROLLOUT_RESULTS": str(tmp_path)}, timeout=300)  # fmt: skip
    assert done.returncode == 1, done.stderr[-2000:]
    assert "Rollout decision: **NO-GO**" in done.stdout and "decision: NO-GO (exit code 1)" in done.stderr
    page = (run / "report.html").read_text()
    assert 'id="decision"' in page and "NO-GO" in page and "client request change" in page
    assert json.loads((run / "decision.json").read_text())["verdict"] == "NO-GO"


def test_a_proven_library_pin_is_a_remedy_and_failed_ones_are_named():
    cell = upgrade(broken=("local-probe", "model-env-probe"))
    cell.upgrade["pin_remedies"] = [
        {"name": "model-libraries", "outcome": "proven", "pins": ["scikit-learn==1.1.3"], "folder": "/r/up/remedies/1",
         "reason": "2 production request(s) answered as logged"},
        {"name": "mlflow-in-place", "outcome": "not resolvable", "folder": "/r/up/remedies/2",
         "reason": "Because mlflow==3.17.2 depends on numpy>=1.26 ..."},
    ]  # fmt: skip
    made = decision.decide([cell])
    assert made.verdict is Verdict.GO_WITH_ACTIONS
    assert all("pin `scikit-learn==1.1.3`" in f.remedy and "mlflow-in-place: not resolvable" in f.remedy
               for f in made.findings)  # fmt: skip
    cell.upgrade["pin_remedies"][0]["outcome"] = "still fails"
    assert decision.decide([cell]).verdict is Verdict.NO_GO  # a remedy that could not be proven keeps it blocking


def test_every_pin_the_tool_adds_is_a_requirement_change_of_its_label():
    from rolloutcheck.inputs import registry

    labels = registry.load_labels()
    made = decision.decide([validate(label="2.22.5")], labels=labels)
    (finding,) = made.findings
    assert finding.kind == decision.REQUIREMENT and "starlette<1" in finding.remedy and "crash" in finding.seen
    assert finding.proof and made.verdict is Verdict.GO_WITH_ACTIONS  # the label's validate cells passed with it
    assert decision.decide([validate(label="3.17.2")], labels=labels).verdict is Verdict.GO  # 3.17.2 needs no pin
    failed = decision.decide([validate(label="2.22.5", failing="serve")], labels=labels)
    assert failed.verdict is Verdict.NO_GO and failed.findings[0].blocking


def test_a_proven_data_repair_is_an_action_with_its_commands():
    cell = store("filestore", broken=("to-read", "migrated-snapshot"))
    command = "MLFLOW_TRACKING_URI=<moved store> mlflow experiments delete --experiment-id 2"
    cell.upgrade["repair"] = {"experiments": ["deleted-1"], "outcome": "proven", "proof": "as 1.2 wrote it",
                              "commands": [command]}  # fmt: skip
    made = decision.decide([cell])  # one repair, seen at two stages: one action
    assert made.verdict is Verdict.GO_WITH_ACTIONS and len(made.findings) == 1
    (repair,) = made.findings
    assert "experiments delete --experiment-id 2" in repair.remedy and repair.proof
    assert repair.stage == "to-read, migrated-snapshot" and len(repair.members) == 2
    cell.upgrade["repair"] = {"experiments": ["deleted-1"], "outcome": "still fails", "reason": "not found"}
    assert decision.decide([cell]).verdict is Verdict.NO_GO


def test_resurrected_experiments_are_those_deleted_before_and_active_after():
    from rolloutcheck.cells.stages.store.repair import resurrected

    def store_of(*stages):
        return {"experiments": {str(n): {"name": f"e{n}", "lifecycle_stage": s} for n, s in enumerate(stages, 1)}}

    before, after = store_of("deleted", "active", "deleted"), store_of("active", "active", "deleted")
    assert resurrected(before, after) == {"1": "e1"}


def test_drivers_the_store_check_adds_are_requirement_changes_of_the_label():
    from rolloutcheck.inputs import stores as storeconfig

    pins = storeconfig.load().pins
    cell = store("postgresql", broken=())
    cell.mlflow_version = "3.17.2"
    made = decision.decide([cell], store_pins=pins)
    named = sorted(f.remedy.split("`")[1] for f in made.findings)
    assert named == ["psycopg2-binary", "psycopg[binary]"]  # sqlalchemy pins are for <3 only
    assert all(f.kind == decision.REQUIREMENT and f.proof and "SQLAlchemy" in f.seen for f in made.findings)
    cell.mlflow_version = "2.22.5"
    assert "sqlalchemy<2.1" in {f.remedy.split("`")[1] for f in decision.decide([cell], store_pins=pins).findings}


def test_a_broken_rebuilt_environment_is_remedied_by_the_label_environment_when_that_answered():
    made = decision.decide([upgrade(broken=("model-env-serve",))])
    (finding,) = made.findings
    assert "--env-manager local" in finding.remedy and "local-probe passed" in finding.proof
    assert made.verdict is Verdict.GO_WITH_ACTIONS


def test_a_trashed_experiment_left_active_by_1x_is_marked_deleted(tmp_path):
    from rolloutcheck.cells.stages.store.repair import mark_deleted

    meta = tmp_path / ".trash" / "3" / "meta.yaml"
    meta.parent.mkdir(parents=True)
    meta.write_text("artifact_location: file:///x/3\nexperiment_id: '3'\nlifecycle_stage: active\nname: gone\n")
    command = mark_deleted(meta, "3")
    assert "lifecycle_stage: deleted\n" in meta.read_text() and "name: gone" in meta.read_text()
    assert command.startswith("sed -i") and ".trash/3/meta.yaml" in command


def test_a_request_known_to_break_in_a_store_cell_is_a_finding_too():
    """The store check's to-probe replays the stored requests: an expectation's XFAIL there (the stage
    itself passing) must reach the decision, not read as green."""
    cell = store("client", broken=())
    cell.upgrade["usecase"] = "uc"
    cell.probes = [ProbeResult("seed_pandas_split", XFAIL, "mlflow 2.0 refuses pandas-split (415)", 415)]
    (finding,) = decision.decide([cell]).findings
    assert finding.kind == decision.CLIENT_REQUEST and finding.blocking and finding.hits == ["uc: seed_pandas_split"]
    proven = decision.decide([cell, upgrade()])  # the upgrade cell of that use case proves the new form
    assert proven.verdict is Verdict.GO_WITH_ACTIONS
    broken = store("client", broken=("to-probe",))
    broken.probes = [ProbeResult("dataframe_split", XFAIL, "known break: old pickle (seen: HTTP 400)", 400)]
    (finding,) = decision.decide([broken]).findings  # the runner's XFAIL is to-probe's finding, not a second one
    assert finding.stage == "to-probe"


def failing_upgrade(stage: str, reason: str, usecase="uc") -> CellResult:
    stages = [StageResult(s, FAIL if s == stage else PASS, reason if s == stage else "fine")
              for s in UPGRADE.stages()]  # fmt: skip
    return CellResult("3.17.2", usecase, "/r/up", kind="upgrade", from_label="1.2.SBD.0", stages=stages)


def test_what_fails_on_production_itself_is_listed_and_the_upgrade_it_stopped_is_not_checked():
    """A project that does not run on production cannot be broken by the rollout: its validate cell on
    production and a new-label cell failing the same way are listed apart; its upgrade cell, stopped on
    the from side, is a check that never ran: "not checked", which never reads GO (it did, issue 43 item 0)
    and is no verdict of its own (GO WITH ACTIONS, listed); a different failure on the new label still blocks."""
    on_production = validate("1.2.SBD.0", "team", failing="train")
    stopped = failing_upgrade("from-train", "boom", "team")
    cells = [on_production, stopped, validate("3.17.2", "team", failing="train")]
    made = decision.decide(cells, production="1.2.SBD.0")
    assert made.verdict is Verdict.GO_WITH_ACTIONS and not made.failures and made.exit_code == 10
    assert [row["cell"] for row in made.not_on_production] == [cells[0].title, cells[2].title]
    assert [row["cell"] for row in made.not_checked] == [stopped.title]
    assert "team does not run on production (1.2.SBD.0) today: train - boom" in made.not_checked[0]["why"]
    assert "does not run on production (1.2.SBD.0) today" in made.not_on_production[0]["why"]
    assert "already broken on production" in made.not_on_production[1]["why"]
    shown = decision.markdown(made)
    assert "Does not run on production today" in shown and "## Not checked" in shown
    alone = decision.decide([on_production, validate("3.17.2", "team", failing="train")], production="1.2.SBD.0")
    assert alone.verdict is Verdict.GO  # no upgrade asked for: nothing of the rollout went unchecked
    different = validate("3.17.2", "team", failing="serve")
    made = decision.decide([on_production, different], production="1.2.SBD.0")
    assert made.verdict is Verdict.NO_GO and [row["stage"] for row in made.failures] == ["serve"]
    assert decision.decide(cells).verdict is Verdict.NO_GO  # without production named, nothing is excused


def bad_config(cell: CellResult, file: str = "probes/uc/records.curl") -> CellResult:
    """The cell as the runner records a ConfigError at config: FAIL naming the file, the rest skipped."""
    cell.stages = [StageResult(s.stage, SKIP, "skipped: stage config failed") for s in cell.stages]
    cell.stages[0] = StageResult("config", FAIL, f"{file}: no expectation: add uc/records.expect.yaml",
                                 details={BAD_INPUT: file})  # fmt: skip
    return cell


def test_a_bad_file_of_the_repository_is_bad_input_never_production_s_failure_nor_go():
    """Issue 43 item 0: a probe file without its expectation failed every cell of its use case at config,
    on production's label too, and the decision read GO, exit 0 ("does not run on production today")."""
    cells = [bad_config(validate("1.2.SBD.0")), bad_config(validate("3.17.2")),
             bad_config(failing_upgrade("config", "x"))]  # fmt: skip
    made = decision.decide(cells, production="1.2.SBD.0")
    assert made.verdict is Verdict.BAD_INPUT and made.exit_code == 2
    assert not made.not_on_production and not made.not_checked and not made.failures
    assert {row["file"] for row in made.bad_input} == {"probes/uc/records.curl"}
    (line,) = decision.bad_input_lines(made)  # one line naming the file, however many cells read it
    assert line.startswith("probes/uc/records.curl: no expectation") and "3 cell(s)" in line
    assert "## Bad input" in decision.markdown(made)
    # beside a whole healthy rollout it still decides nothing
    made = decision.decide([*cells, validate("3.17.2", "other")], production="1.2.SBD.0")
    assert made.verdict is Verdict.BAD_INPUT


def test_a_models_cell_that_could_not_read_production_s_model_is_not_checked():
    stages = [StageResult(s, SKIP, "skipped") for s in UPGRADE.stages()]
    stages[0] = StageResult("config", FAIL, "m: artifacts not in the copy", details={NOT_CHECKED: "m: not in the copy"})
    cell = CellResult("3.17.2", "m", "/r/m", kind="upgrade", from_label="1.2.SBD.0", stages=stages)
    made = decision.decide([validate(), cell], production="1.2.SBD.0")
    assert made.verdict is Verdict.GO_WITH_ACTIONS and not made.failures
    assert made.not_checked[0]["why"] == "m: not in the copy"


def test_a_model_env_that_got_another_mlflow_than_the_label_is_a_finding_proven_by_the_pinned_rebuild():
    cell = upgrade(broken=("model-env-probe",))
    cell.upgrade["model_env"] = {"mlflow": "3.17.2", "unpinned": {"mlflow": "3.18.0", "pin": "mlflow==3.17.2"}}
    made = decision.decide([cell])
    (pinned,) = [f for f in made.findings if f.stage == "model-env-serve"]
    assert pinned.kind == "requirement change" and not pinned.blocking
    assert pinned.seen.startswith("the model environment got mlflow 3.18.0, not 3.17.2: the model's requirements")
    assert "pin `mlflow==3.17.2`" in pinned.remedy and "model-env-probe xfail" in pinned.proof
    cell.stages = [StageResult(s.stage, FAIL, "x") if s.stage == "model-env-serve" else s for s in cell.stages]
    assert next(f for f in decision.decide([cell]).findings if f.stage == "model-env-serve").blocking
    cell.upgrade["model_env"] = {"mlflow": "3.17.2"}  # the rebuild held the label's mlflow: nothing to say
    assert not [f for f in decision.decide([cell]).findings if f.stage == "model-env-serve"]


def test_the_downtime_of_a_file_store_names_its_own_move_and_only_measured_figures():
    """Issue 40 item 4: a file store's action said `mlflow db upgrade` and "? runs / ? metric rows"."""
    cell = store("filestore", broken=())
    cell.upgrade = {"migration": {"to": "sqlite:///m.db", "seconds": 5.3}}
    (moved,) = decision.downtime_findings([cell], lambda source, target: {"kinds": {"filestore": {"fit": {}}}})
    assert "`mlflow migrate-filestore`" in moved.remedy and "db upgrade" not in moved.remedy + moved.seen
    assert "?" not in moved.remedy and "measured: 5.3 s in the generated store" in moved.remedy
    assert moved.stage == "migrate" and not moved.blocking
    cell = store("sqlite", broken=())
    cell.upgrade = {"migration": {"seconds": 2.0}, "compared": {"runs": 12, "metric points": 240}}
    (upgraded,) = decision.downtime_findings([cell], lambda source, target: None)
    assert "`mlflow db upgrade`" in upgraded.remedy and "2.0 s for 12 runs / 240 metric rows" in upgraded.remedy


def test_the_title_names_the_production_it_answers_for():
    made = decision.decide([validate()], declared="1.2.SBD.0, filestore tracking store (generated by the check)")
    assert decision.markdown(made).startswith(
        "# Rollout decision: **GO** (3.17.2) for production 1.2.SBD.0, filestore tracking store (generated"
    )


def test_a_run_without_every_cell_of_the_rollout_is_partial_and_never_go():
    """Issue 43 item 7: `make decide` on a `--usecase` run gave an unqualified verdict for what it held."""
    needed = [("validate", "3.17.2", "uc"), ("validate", "3.17.2", "other"), ("store-upgrade", "3.17.2", "filestore")]
    made = decision.decide([validate()], needed=needed)
    assert made.verdict is Verdict.GO_WITH_ACTIONS and made.partial["held"] == 1 and made.partial["needed"] == 3
    shown = decision.markdown(made)
    assert shown.startswith("# Rollout decision: **GO WITH ACTIONS** (3.17.2); partial: 1 of 3 cells")
    assert "- store-upgrade 3.17.2 filestore" in shown
    assert decision.decide([validate()], needed=needed[:1]).verdict is Verdict.GO  # every cell held


def test_already_broken_on_production_means_the_same_line_not_a_line_alike():
    """Issue 43 item 1: "1 of 200 requests failed" was cleared as production's "187 of 200"."""
    on_production = validate("1.2.SBD.0", "team", failing="speed")
    on_production.stages = [StageResult(s.stage, s.status, "187 of 200 requests failed") for s in on_production.stages]
    new = validate("3.17.2", "team", failing="speed")
    new.stages = [StageResult(s.stage, s.status, "1 of 200 requests failed") for s in new.stages]
    made = decision.decide([on_production, new], production="1.2.SBD.0")
    assert made.verdict is Verdict.NO_GO and [f["cell"] for f in made.failures] == [new.title]
    port = [StageResult(s.stage, s.status, "refused by http://127.0.0.1:4242/invocations") for s in new.stages]
    on_production.stages = [StageResult(s.stage, s.status, s.reason.replace("4242", "5151")) for s in port]
    new.stages = port
    assert decision.decide([on_production, new], production="1.2.SBD.0").verdict is Verdict.GO  # a port is no cause


def test_a_python_move_is_a_finding_proven_by_its_remedy_cell():
    lock = "unresolvable: Because the requested Python version (>=3.8) does not satisfy Python>=3.10 and "
    cell = validate("3.17.2", "team", failing="lock")
    cell.stages[0] = StageResult("lock", FAIL, lock + "mlflow==3.17.2 depends on Python>=3.10")
    line = 'python_by_mlflow: {">=3": "3.10"}'
    cell.upgrade["python_move"] = {"outcome": "proven", "python": "3.10", "line": line, "cell": "/r/pm",
                                   "proof": "validate-3.17.2(team-py310) passed on Python 3.10"}  # fmt: skip
    made = decision.decide([cell])
    assert made.verdict is Verdict.GO_WITH_ACTIONS and not made.failures
    (move,) = made.findings
    assert move.kind == "Python move" and 'python_by_mlflow: {">=3": "3.10"}' in move.remedy
    assert "retrain team on Python 3.10" in move.remedy and "passed on Python 3.10" in move.proof
    cell.upgrade["python_move"] = {"outcome": "still fails", "python": "3.10", "reason": "train: boom"}
    made = decision.decide([cell])
    assert made.verdict is Verdict.NO_GO and made.findings[0].blocking and "did not work" in made.findings[0].remedy


def test_a_decision_that_cannot_read_what_it_needs_blocks_in_one_line_and_says_what_it_did_not_look_at():
    made = decision.decide([validate()], problems=["the decision could not read the stores' pins: bad"],
                           notes=[decision.MODELS_NOT_CHECKED])  # fmt: skip
    assert made.verdict is Verdict.NO_GO and made.failures[0]["reason"].startswith("the decision could not read")
    assert "ROLLOUT_MODELS_FROM" in decision.markdown(made)


def test_a_store_pin_is_evidenced_only_by_the_store_kinds_it_is_for():
    from rolloutcheck.inputs import stores as storeconfig

    pins = storeconfig.load().pins
    cell = store("filestore", broken=())
    cell.mlflow_version = "3.17.2"
    made = decision.decide([cell], store_pins=pins)
    assert not [f for f in made.findings if "psycopg" in f.remedy]  # a file store says nothing of drivers
    assert any("psycopg2-binary" in n and "no postgresql store cell" in n for n in made.notes)


def test_productions_own_cells_are_the_reference_not_findings_of_the_rollout():
    reference = validate("1.2.SBD.0", xfail=True)  # whatever production's own cells show is not an action
    made = decision.decide([reference, validate("3.17.2")], production="1.2.SBD.0",
                           labels=registry.load_labels())  # fmt: skip
    assert made.labels == ["3.17.2"] and made.verdict is not Verdict.NO_GO
    assert made.findings == [f for f in made.findings if f.cell == "label 3.17.2"]  # its requirement changes only
    assert decision.decide([reference], production="1.2.SBD.0").labels == ["1.2.SBD.0"]


def test_a_mistyped_label_never_exits_with_a_verdicts_code():
    """Issue 44 item 1: `nox -s rollout-3.17.9` exited 3, then GO WITH ACTIONS's code."""
    import os
    import subprocess

    from sessions import NOX, ROOT

    done = subprocess.run([NOX, "-s", "rollout-3.17.9"], cwd=ROOT, capture_output=True, text=True, timeout=300,
                          env={k: v for k, v in os.environ.items() if not k.startswith("NOX")})  # fmt: skip
    assert done.returncode == 3 and "rollout-3.17.9" in done.stderr  # nox's own: no such session
    assert 3 not in decision.EXIT_CODES.values()  # so it can never be read as a verdict


def models_cell(stage: str, written: bool) -> CellResult:
    """Production's own model (a models cell linked to use case uc) broken at `stage` on 3.17.2: as the runner
    records a written-down break, or one nobody wrote down (FINDING)."""
    from rolloutcheck.spec.kinds import MODELS

    stages = [StageResult(s, PASS, "fine") for s in MODELS.stages()]
    at = next(i for i, s in enumerate(stages) if s.stage == stage)
    stages[at] = broke(stage, "old pickle") if written else StageResult(stage, XFAIL, f"{FINDING}: HTTP 500: boom")
    cell = CellResult("3.17.2", "wine-v1", "/r/m", kind="models", from_label="1.2.SBD.0", stages=stages)
    cell.upgrade.update(usecase="uc", model={"shown": "wine@champion (version 3)", "usecase": "uc"})
    return cell


def test_a_production_models_break_nobody_wrote_down_is_never_proven_by_another_models_cell():
    """Issue 43 item 4: any failure of a models cell was "retrain", proven by the linked use case's validate
    cell, which never touched that model; the cause may be one retraining cannot fix (the model's own code)."""
    unwritten = decision.decide([models_cell("local-probe", written=False), validate()])
    (retrain,) = [f for f in unwritten.findings if f.kind == decision.RETRAIN]
    assert retrain.blocking and unwritten.verdict is Verdict.NO_GO, retrain.proof
    assert "cause is written down nowhere" in retrain.remedy
    # written down (the linked use case's upgrade.yaml says retraining fixes it): that use case's own requests,
    # answered by the retrained model on 3.17.2, are its proof
    written = decision.decide([models_cell("local-probe", written=True), validate()])
    (retrain,) = [f for f in written.findings if f.kind == decision.RETRAIN]
    assert not retrain.blocking and "validate cell 3.17.2 x uc passed" in retrain.proof
