from junitparser import JUnitXml

from rolloutcheck import report, results
from rolloutcheck.results import FAIL, PASS, SKIP, XFAIL, CellResult, ProbeResult, StageResult


def cell(tmp_path, label, usecase, failing_stage=None, probes=()):
    folder = results.new_cell_dir(tmp_path, label, usecase)
    stages = []
    for stage in results.STAGES:
        if failing_stage and results.STAGES.index(stage) > results.STAGES.index(failing_stage):
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
    again = results.load_cells(tmp_path)[0]
    assert again == written
    assert again.status == PASS
    assert cell(tmp_path, "1.2.0", "uc2", failing_stage="serve").status == FAIL


def test_existing_cell_folder_is_never_overwritten(tmp_path):
    first = results.new_cell_dir(tmp_path, "l", "uc")
    second = results.new_cell_dir(tmp_path, "l", "uc")
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
    assert len(cases) == 2 * len(results.STAGES) + 2
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
    assert lines[3] == "| 3.17.2 (3.17.2) | PASS [sklearn] (1 xfail) | not run |"
    assert "protocol changed" in table and "FAIL at lock" in table
