"""The store check's pieces without mlflow: the comparison, the configuration, the report, the cells a
selection asks for, and a real private PostgreSQL cluster (skipped, saying why, where none is installed)."""

from __future__ import annotations

import copy
import os
import subprocess
from pathlib import Path

import psutil
import pytest
import yaml

from rolloutcheck.core import procs
from rolloutcheck.core.errors import ConfigError
from rolloutcheck.core.procs import Launch
from rolloutcheck.inputs import stores as storeconfig
from rolloutcheck.reports import aggregate
from rolloutcheck.reports import summary as report
from rolloutcheck.spec.results import FAIL, PASS, XFAIL, CellResult, StageResult
from rolloutcheck.stores import diff as storediff
from rolloutcheck.stores import postgres as pgcluster


def snapshot(**changes) -> dict:
    run = {
        "experiment_id": "1", "status": "FINISHED", "start_time": 1, "end_time": 2, "lifecycle_stage": "active",
        "artifact_uri": "./mlruns/1/r1/artifacts", "user_id": "u", "params": {"p": "1"},
        "tags": {"mlflow.runName": "first", "team": "a"}, "latest_metrics": {"m": 0.3},
        "metrics": {"m": [[0, 100, 0.1], [1, 101, 0.2], [2, 102, 0.3]]}, "artifacts": [["notes.txt", 19]],
    }  # fmt: skip
    base = {
        "mlflow_version": "1.2.0",
        "experiments": {"1": {"name": "e", "lifecycle_stage": "active", "artifact_location": "./mlruns/1", "tags": {}}},
        "runs": {"r1": run},
        "registry": None,
    }
    for key, value in changes.items():
        base[key] = value
    return base


def test_identical_stores_compare_equal_with_counts():
    diff = storediff.compare(snapshot(), snapshot())
    assert diff.ok and diff.before == diff.after
    assert diff.before["metric points"] == 3 and diff.before["runs"] == 1
    assert diff.summary().startswith("nothing lost or changed")


def test_a_lost_or_changed_metric_point_is_named():
    after = copy.deepcopy(snapshot())
    points = after["runs"]["r1"]["metrics"]["m"]
    points.pop(1)
    points[0][2] = 0.15
    diff = storediff.compare(snapshot(), after)
    assert not diff.ok
    assert "run r1 metric 'm': point step 1 at 101 = 0.2 lost" in diff.differences
    assert "run r1 metric 'm': point step 0 at 100 = 0.1 lost" in diff.differences
    assert "run r1 metric 'm': point step 0 at 100 = 0.15 appeared" in diff.differences
    assert diff.after["metric points"] == 2


def test_a_resurrected_run_a_changed_tag_and_a_lost_model_are_named():
    before = snapshot(registry={"models": {"m": {"tags": {}, "aliases": {}, "versions": {"1": {"run_id": "r1"}}}}})
    after = copy.deepcopy(before)
    after["runs"]["r1"]["lifecycle_stage"] = "deleted"
    after["runs"]["r1"]["tags"]["team"] = "b"
    after["registry"] = {"models": {}}
    diff = storediff.compare(before, after)
    assert "run r1 'lifecycle_stage': 'active' -> 'deleted'" in diff.differences
    assert "run r1 tag 'team': 'a' -> 'b'" in diff.differences
    assert "registered model 'm': lost" in diff.differences


def test_field_rules_line_up_run_name_and_a_missing_registry_only():
    after = copy.deepcopy(snapshot(registry={"models": {}}))
    after["runs"]["r1"]["run_name"] = "first"  # 3.x reports the tag's name as run_name
    assert storediff.compare(snapshot(), after).ok
    after["runs"]["r1"]["run_name"] = "renamed"  # but a different name is a difference
    assert storediff.compare(snapshot(), after).differences == ["run r1 'run_name': 'first' -> 'renamed'"]


def test_the_diff_file_lists_counts_differences_and_rules(tmp_path):
    after = copy.deepcopy(snapshot())
    after["runs"]["r1"]["params"]["p"] = "2"
    diff = storediff.compare(snapshot(), after)
    text = diff.write(tmp_path / "d.txt", "title").read_text()
    assert "metric points" in text and "- run r1 param 'p': '1' -> '2'" in text and "run.run_name" in text


def write_stores(tmp_path: Path, **changes) -> Path:
    spec = yaml.safe_load(storeconfig.STORES_FILE.read_text())
    spec.update(changes)
    path = tmp_path / "stores.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def test_the_committed_store_config_loads():
    config = storeconfig.load()
    assert config.stores == ("sqlite", "postgresql", "mysql", "filestore", "client")
    assert config.environment.name == storeconfig.LOCK_NAME and config.project.name == "sklearn_elasticnet_wine"
    assert any("sqlalchemy<2" in r for r in config.environment.requirements_by_mlflow["<2"])
    assert {b.stage for b in config.breaks} >= {"to-read", "new-client"}


@pytest.mark.parametrize(
    "changes, key",
    [
        ({"stroes": []}, "stroes"),
        ({"stores": ["oracle"]}, "stores"),
        ({"size": {"default": {"experiments": 0, "runs": 1, "steps": 1, "models": 1}}}, "size"),
        ({"known_breaks": [{"from": "<2", "to": ">=3", "stage": "to-env", "reason": "x"}]}, "stage"),
        ({"usecase": "nope"}, "usecase"),
    ],
)
def test_a_broken_store_config_is_one_line_naming_the_key(tmp_path, changes, key):
    with pytest.raises(ConfigError) as error:
        storeconfig.load(write_stores(tmp_path, **changes))
    assert f"'{key}'" in str(error.value) or key in str(error.value)
    assert "\n" not in str(error.value)


def test_a_store_selection_asks_for_every_store_kind():
    cells = aggregate.selection_cells(["store-upgrade-3.17.2", "upgrade-2.22.5"])
    assert ("store-upgrade", "3.17.2", "postgresql") in cells and ("store-upgrade", "3.17.2", "client") in cells
    assert ("upgrade", "2.22.5", "sklearn_elasticnet_wine") in cells


def test_store_cells_pass_only_with_every_stage_of_their_kind(tmp_path):
    cell = CellResult("3.17.2", "sqlite", str(tmp_path), kind="store-upgrade", from_label="1.2.SBD.0")
    cell.stages = [StageResult(s, PASS) for s in cell.expected_stages]
    assert cell.status == PASS and "rollback" in cell.expected_stages
    cell.stages.pop()  # rollback never reported
    assert cell.status == FAIL and cell.failure().stage == "rollback"
    unknown = CellResult("3.17.2", "mysql", str(tmp_path), kind="store-upgrade", from_label="1.2.SBD.0")
    unknown.stages = [StageResult("config", FAIL, "not listed")]
    assert unknown.status == FAIL


def test_the_store_table_has_a_column_per_store_kind(tmp_path):
    cells = []
    for kind in ("sqlite", "client"):
        cell = CellResult("3.17.2", kind, str(tmp_path), kind="store-upgrade", from_label="1.2.SBD.0")
        cell.stages = [StageResult(s, PASS) for s in cell.expected_stages]
        cells.append(cell)
    cells[0].upgrade = {"compared": {"runs": 14, "metric points": 483},
                        "migration": {"revision_before": "a", "revision_after": "b", "seconds": 8.0}}  # fmt: skip
    cells[1].stages[-1] = StageResult("new-client", XFAIL, "known break: logged-models 404")
    text = report.markdown(cells)
    assert "| from -> to | sqlite | client |" in text
    assert "PASS (14 runs, 483 points equal; a -> b in 8.0s)" in text
    assert "new client -> old server: XFAIL" in text


def postgres_or_skip() -> Path:
    try:
        return pgcluster.bindir()
    except pgcluster.PostgresError as error:
        pytest.skip(f"needs PostgreSQL's server binaries, which .ci/run installs: {error.reason}")


def test_a_private_cluster_dumps_restores_and_stops_leaving_no_process(tmp_path):
    tools = postgres_or_skip()
    marker = procs.new_marker()
    launch = Launch(dict(os.environ), tmp_path, tmp_path / "pg.log", marker, "store")
    database = pgcluster.private(tmp_path / "pg", launch)
    try:
        assert procs.marked(marker), "the server carries the cell's marker"
        psql = [str(tools / "psql"), "-v", "ON_ERROR_STOP=1", database.url, "-c"]
        subprocess.run([*psql, "CREATE TABLE t (x int); INSERT INTO t VALUES (1)"], check=True, capture_output=True)
        dump = database.dump(tmp_path / "d.dump")
        subprocess.run([*psql, "DELETE FROM t"], check=True, capture_output=True)
        database.restore(dump)
        rows = subprocess.run([*psql, "SELECT count(*) FROM t", "-At"], check=True, capture_output=True, text=True)
        assert rows.stdout.strip() == "1"
    finally:
        database.stop()
        procs.stop(None, marker)
    assert not procs.marked(marker)
    assert not [p for p in psutil.process_iter(["cmdline"]) if str(tmp_path) in " ".join(p.info["cmdline"] or [])]


def store_state(kind: str, copy_of: str | None):
    from rolloutcheck.cells.context import CellState, StoreState

    result = CellResult("3.17.2", kind, "x", kind="store-upgrade", from_label="1.2.SBD.0")
    source = CellState(CellResult("1.2.SBD.0", kind, "x"), environ={})
    return StoreState(result, source, CellState(result), kind, {}, copy_of=copy_of)


def test_a_copy_of_production_is_copied_into_the_cell_and_never_written_in_place(tmp_path):
    import hashlib
    import sqlite3
    from types import SimpleNamespace

    from rolloutcheck.cells.stages.store import create as store
    from rolloutcheck.cells.stages.store import populate

    production = tmp_path / "production.db"
    with sqlite3.connect(production) as db:
        db.execute("CREATE TABLE t (x int)")
    digest = hashlib.sha256(production.read_bytes()).hexdigest()
    ctx = SimpleNamespace(cell_dir=tmp_path / "cell")
    ctx.cell_dir.mkdir()
    state = store_state("sqlite", f"sqlite:///{production}")
    record = StageResult("store", PASS)
    store.run(ctx, state, record)
    assert state.uri == f"sqlite:///{ctx.cell_dir / 'store' / 'mlflow.db'}" and "a copy of" in record.reason
    assert state.source.environ["MLFLOW_TRACKING_URI"] == state.uri
    written = StageResult("populate", PASS)
    populate.run(ctx, state, written)
    assert written.reason.startswith("nothing generated")
    assert hashlib.sha256(production.read_bytes()).hexdigest() == digest
    # a copy for another kind leaves this kind's check on a generated store
    other = store_state("filestore", f"sqlite:///{production}")
    store.run(ctx, other, StageResult("store", PASS))
    assert other.uri.startswith("file://") and "copy_of" not in other.result.upgrade


def test_a_missing_copy_fails_the_store_stage_in_one_line(tmp_path):
    from types import SimpleNamespace

    from rolloutcheck.cells.context import StageFailed
    from rolloutcheck.cells.stages.store import create as store

    ctx = SimpleNamespace(cell_dir=tmp_path)
    with pytest.raises(StageFailed, match="does not exist"):
        store.run(ctx, store_state("filestore", str(tmp_path / "no-mlruns")), StageResult("store", PASS))


def test_the_html_report_has_a_clickable_store_table(tmp_path):
    from rolloutcheck.reports import html as htmlreport

    cells = []
    for kind in ("sqlite", "filestore"):
        cell = CellResult("3.17.2", kind, str(tmp_path / kind), kind="store-upgrade", from_label="1.2.SBD.0")
        cell.stages = [StageResult(s, PASS) for s in cell.expected_stages]
        cells.append(cell)
    cells[1].stages[-1] = StageResult("to-probe", FAIL, "dataframe_split: HTTP 400")
    page = htmlreport.render(tmp_path, cells, runs={})
    assert '<table id="stores">' in page and "<th>sqlite</th>" in page and "<th>filestore</th>" in page
    assert "FAIL to-probe: dataframe_split: HTTP 400" in page and "onclick=\"show('c1')\"" in page


def test_database_urls_in_reports_never_show_a_password():
    assert pgcluster.shown("postgresql://u:secret@db:5432/x") == "postgresql://u:***@db:5432/x"
    assert pgcluster.shown("postgresql://u@127.0.0.1:5/x") == "postgresql://u@127.0.0.1:5/x"


def test_basic_auth_is_read_off_productions_options_whatever_their_count():
    """A production server declared without options (the seed's) once failed every filestore cell: zip(strict)."""
    from rolloutcheck.cells.stages.store.serverauth import differences, is_on, refused_without_credentials

    assert not is_on(()) and not is_on(("--workers", "2")) and not is_on(("--app-name",))
    assert is_on(("--workers", "2", "--app-name", "basic-auth")) and is_on(("--app-name=basic-auth",))
    assert differences({"permission": "EDIT"}, {"permission": "READ"}) == ["permission: 'EDIT' -> 'READ'"]
    assert refused_without_credentials({"auth": {"unauthenticated": 401}}) is None
    assert "HTTP 200, not 401" in refused_without_credentials({"auth": {"unauthenticated": 200}})
