import json
from pathlib import Path

import psutil
from junitparser import JUnitXml

from rolloutcheck.core import atomic
from rolloutcheck.reports import summary as report
from rolloutcheck.spec import layout
from rolloutcheck.spec.kinds import VALIDATE
from rolloutcheck.spec.results import FAIL, PASS, SKIP, XFAIL, CellResult, ProbeResult, StageResult


def cell(tmp_path, label, usecase, failing_stage=None, probes=()):
    folder = layout.new_cell_dir(tmp_path, label, usecase)
    stages = []
    for stage in VALIDATE.stages():
        if failing_stage and VALIDATE.stages().index(stage) > VALIDATE.stages().index(failing_stage):
            stages.append(StageResult(stage, SKIP, f"skipped: stage {failing_stage} failed"))
        else:
            status = FAIL if stage == failing_stage else PASS
            stages.append(StageResult(stage, status, "boom" if status == FAIL else "", 1.0, str(folder / "x.log")))
    result = CellResult(label, usecase, str(folder), mlflow_version=label, stages=stages, probes=list(probes))
    result.flavor = None if failing_stage else "sklearn"
    result.write()
    return result


def test_round_trip_and_status(tmp_path):
    written = cell(tmp_path, "1.2.0", "uc", probes=[ProbeResult("seed", XFAIL, "known")])
    again = layout.load_cells(tmp_path)[0]
    assert again == written
    assert again.status == PASS
    assert cell(tmp_path, "1.2.0", "uc2", failing_stage="serve").status == FAIL


def test_existing_cell_folder_is_never_overwritten(tmp_path):
    first = layout.new_cell_dir(tmp_path, "l", "uc")
    second = layout.new_cell_dir(tmp_path, "l", "uc")
    assert first != second and first.is_dir() and second.name == "uc.2"


def test_junit_has_a_case_per_stage_and_probe(tmp_path):
    cells = [
        cell(tmp_path, "3.17.2", "uc", probes=[ProbeResult("seed", XFAIL, "415"), ProbeResult("v2", PASS, "ok")]),
        cell(tmp_path, "2.22.5", "uc", failing_stage="train"),
    ]
    path = tmp_path / "junit.xml"
    report.junit(cells).write(str(path))
    xml = JUnitXml.fromfile(str(path))
    cases = {(suite.name, case.classname, case.name): case for suite in xml for case in suite}
    assert len(cases) == 2 * len(VALIDATE.stages()) + 2
    assert cases[("mlflow 3.17.2", "3.17.2.uc", "probe seed")].is_skipped  # xfail shown apart from a pass
    assert cases[("mlflow 3.17.2", "3.17.2.uc", "probe v2")].is_passed
    assert not cases[("mlflow 2.22.5", "2.22.5.uc", "train")].is_passed
    assert cases[("mlflow 2.22.5", "2.22.5.uc", "serve")].is_skipped


def test_markdown_table_labels_by_usecases(tmp_path):
    cells = [
        cell(tmp_path, "1.2.SBD.0", "a", probes=[ProbeResult("p", PASS, "ok")]),
        cell(tmp_path, "1.2.SBD.0", "b", failing_stage="lock"),
        cell(tmp_path, "3.17.2", "a", probes=[ProbeResult("p", XFAIL, "protocol changed")]),
    ]
    table = report.markdown(cells)
    lines = table.splitlines()
    assert lines[0] == "| label (mlflow) | a | b |"
    assert lines[2] == "| 1.2.SBD.0 (1.2.SBD.0) | PASS [sklearn] (1 pass) | FAIL lock: boom |"
    assert lines[3] == "| 3.17.2 (3.17.2) | PASS [sklearn] (1 xfail) | not asked for |"
    assert "protocol changed" in table and "FAIL at lock" in table


def test_a_cell_with_a_skipped_stage_is_never_pass(tmp_path):
    """Issue: errors between stages marked the rest 'skipped: run ended early' and the cell PASS."""
    result = cell(tmp_path, "1.2.0", "uc", probes=[ProbeResult("p", PASS, "ok")])
    result.stages[-1] = StageResult("probe", SKIP, "skipped: run ended early")
    assert result.status == FAIL
    assert result.failure().stage == "probe"
    result.stages.pop()  # a stage that never reported at all
    assert result.status == FAIL and "did not run" in result.failure().reason


def test_newest_attempt_counts_in_natural_order(tmp_path):
    """uc.10 is newer than uc.2; a failure of a replaced attempt no longer counts."""
    for n in range(1, 11):
        cell(tmp_path, "1.2.0", "uc", failing_stage=None if n == 10 else "train")
    loaded = layout.load_cells(tmp_path)
    assert [c.cell_dir for c in loaded] == [str(tmp_path / "1.2.0" / "uc.10")]
    assert loaded[0].status == PASS
    assert layout.attempt_of(tmp_path / "uc.10") == ("uc", 10)
    assert sorted(["r.10", "r.2", "r.1"], key=layout.natural_key) == ["r.1", "r.2", "r.10"]


def test_unreadable_cell_json_is_a_failed_cell_not_a_crash(tmp_path):
    good = cell(tmp_path, "1.2.0", "a")
    broken = cell(tmp_path, "1.2.0", "b")
    Path(broken.cell_dir, "cell.json").write_text('{"label": "1.2.0", "use')  # half-written
    loaded = {c.usecase: c for c in layout.load_cells(tmp_path)}
    assert loaded["a"] == good
    assert loaded["b"].status == FAIL and "unreadable cell.json" in loaded["b"].problem
    text = report.markdown(list(loaded.values()))
    assert "FAIL cell: unreadable cell.json" in text


def test_a_cell_folder_without_result_and_without_live_owner_fails(tmp_path):
    folder = layout.new_cell_dir(tmp_path, "1.2.0", "uc")
    (folder / layout.OWNER_FILE).write_text('{"pid": 999999999, "create_time": 1.0, "marker": "x"}')
    (loaded,) = layout.load_cells(tmp_path)
    assert loaded.status == FAIL and "never finished" in loaded.problem
    # a live owner (a cell still running under make -j2) is not reported yet
    me = psutil.Process()
    (folder / layout.OWNER_FILE).write_text(json.dumps({"pid": me.pid, "create_time": me.create_time()}))
    assert layout.load_cells(tmp_path) == []


def test_missing_cells_are_named(tmp_path):
    present = [cell(tmp_path, "1.2.0", "a")]
    expected = [("validate", "1.2.0", "a"), ("validate", "1.2.0", "b"), ("validate", "3.17.2", "a")]
    missing = layout.missing_cells(tmp_path, present, expected)
    assert [(c.label, c.usecase) for c in missing] == [("1.2.0", "b"), ("3.17.2", "a")]
    assert all(c.status == FAIL and c.problem.startswith("missing") for c in missing)
    xml = report.junit(present + missing)
    failures = [case for suite in xml for case in suite if not case.is_passed and not case.is_skipped]
    assert {case.classname for case in failures} == {"1.2.0.b", "3.17.2.a"}


def test_writes_are_atomic_and_latest_needs_cells(tmp_path):
    run = tmp_path / "results" / "runs" / "r1"
    report.write(run, [])
    assert not (tmp_path / "results" / "latest").exists()  # a run without cells is never `latest`
    report.write(run, [cell(run, "1.2.0", "a")])
    assert (tmp_path / "results" / "latest").resolve() == run.resolve()
    assert not [p for p in run.rglob("*.tmp")]
    atomic.write_atomic(run / "x.json", "1")
    assert (run / "x.json").read_text() == "1" and not list(run.glob(".x.json.*"))


def test_latest_run_skips_folders_without_cells(tmp_path):
    """`nox -s lock` used to make a run folder that `latest` then pointed to: report saw zero cells."""
    from rolloutcheck.core.settings import Settings

    settings = Settings.from_environ({"ROLLOUT_RESULTS": str(tmp_path)})
    with_cells = tmp_path / "runs" / "a"
    cell(with_cells, "1.2.0", "uc")
    (tmp_path / "runs" / "b-lock-only").mkdir()
    assert layout.latest_run(settings) == with_cells
