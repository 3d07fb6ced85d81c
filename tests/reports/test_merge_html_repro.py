"""Merging run folders, the HTML report built from them, and repro.sh, on run folders written with
the real results API (tests/synthetic.py) and real files; the browser test is test_browser.py."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
from pathlib import Path

import pytest

from rolloutcheck.cells import repro
from rolloutcheck.core import procs
from rolloutcheck.probes import curl
from rolloutcheck.reports import aggregate, merge
from rolloutcheck.reports import html as htmlreport
from rolloutcheck.spec import layout, results
from rolloutcheck.spec.kinds import UPGRADE
from rolloutcheck.spec.results import FAIL, PASS, XFAIL, XPASS
from synthetic import SEED, probe, write_cell


def test_merge_copies_every_cell_and_the_newest_attempt_counts(tmp_path):
    a, b = tmp_path / "runs" / "shard-1", tmp_path / "runs" / "shard-2"
    write_cell(a, "1.2.0", "uc", failing="train", started="2026-01-01T00:00:00Z")
    write_cell(b, "1.2.0", "uc", probes=(probe(),), started="2026-01-02T00:00:00Z")  # a later retry elsewhere
    write_cell(b, "3.17.2", "uc", failing="serve", reason="server exited with code 1: port")
    for run, sessions in ((a, ["validate-1.2.0(uc)"]), (b, ["validate-1.2.0(uc)", "validate-3.17.2(uc)"])):
        (run / layout.SELECTION_FILE).write_text(json.dumps({"sessions": sessions}))
    before = {p: p.read_bytes() for p in a.rglob("*") if p.is_file()}
    target = tmp_path / "runs" / "merged"
    selection = merge.merge([a, b], target)
    assert selection == ["validate-1.2.0(uc)", "validate-3.17.2(uc)"]
    merged = {(c.label, c.usecase): c for c in layout.load_cells(target)}
    assert merged[("1.2.0", "uc")].status == PASS  # the newer attempt (b's) counts
    assert merged[("1.2.0", "uc")].cell_dir == str(target / "1.2.0" / "uc.2")
    assert merged[("3.17.2", "uc")].status == FAIL
    serve = next(s for s in merged[("3.17.2", "uc")].stages if s.stage == "serve")
    assert serve.log == str(target / "3.17.2" / "uc" / "logs" / "serve.log") and Path(serve.log).is_file()
    assert {p: p.read_bytes() for p in a.rglob("*") if p.is_file()} == before  # inputs untouched
    with pytest.raises(merge.MergeError, match="never overwrites"):
        merge.merge([a], target)
    # the report's history lists each attempt once, though the shards and the merge both hold it
    cells = layout.load_cells(target)
    runs = htmlreport.update_history(target, cells)
    assert set(runs) == {"shard-1", "shard-2", "merged"}  # the shards were read once into history.json
    history = htmlreport.history_of(("validate", "1.2.0", "uc"), "merged", runs)
    assert [(h["run"], h["status"], h["current"]) for h in history] == [("merged", "PASS", True),
                                                                         ("shard-1", "FAIL", False)]  # fmt: skip
    page = htmlreport.write(target, cells).read_text()
    assert 'title="shard-1: FAIL"' in page


def test_a_merge_where_a_cell_never_reported_is_not_green(tmp_path):
    a = tmp_path / "runs" / "a"
    write_cell(a, "1.2.0", "uc", probes=(probe(),))
    target = tmp_path / "runs" / "merged"
    merge.merge([a], target)
    text, cells = aggregate.summarize(target, selection=["validate-1.2.0(uc)", "validate-3.17.2(uc)"])
    missing = [c for c in cells if c.problem]
    assert [(c.label, c.usecase) for c in missing] == [("3.17.2", "uc")] and missing[0].status == FAIL
    assert "FAIL cell: missing" in text
    assert (target / "report.html").is_file() and (target / "junit.xml").is_file()


def test_merge_session_names_cells_that_never_reported(tmp_path):
    from sessions import NOX, ROOT

    a = tmp_path / "a"
    write_cell(a, "1.2.SBD.0", "sklearn_elasticnet_wine", probes=(probe(),))
    expect = tmp_path / "cells.txt"
    expect.write_text("validate-1.2.SBD.0(sklearn_elasticnet_wine)\nvalidate-3.17.2(sklearn_elasticnet_wine)\n")
    done = subprocess.run(
        [NOX, "-s", "merge", "--", str(a), "--expect", str(expect), "--into", str(tmp_path / "m")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "ROLLOUT_RESULTS": str(tmp_path)},
    )
    assert done.returncode != 0
    assert "3.17.2 x sklearn_elasticnet_wine" in done.stderr and "never reported" in done.stderr
    assert "| 3.17.2 (?) | FAIL cell: missing" in done.stdout


def test_html_report_grid_details_changes_and_history(tmp_path):
    runs = tmp_path / "runs"
    old = runs / "r1"
    write_cell(old, "1.2.0", "a", probes=(probe(),), started="2026-01-01T00:00:00Z")
    write_cell(old, "1.2.0", "b", failing="train", started="2026-01-01T00:00:00Z")
    write_cell(old, "3.17.2", "a", probes=(probe(status=XFAIL, reason="protocol changed"),),
               started="2026-01-01T00:00:00Z")  # fmt: skip
    new = runs / "r2"
    write_cell(new, "1.2.0", "a", failing="serve", reason="server never healthy: no 200 from /ping",
               started="2026-01-02T00:00:00Z")  # fmt: skip
    write_cell(new, "1.2.0", "b", probes=(probe(),), started="2026-01-02T00:00:00Z")
    write_cell(new, "3.17.2", "a", probes=(probe(status=XPASS, reason="known break no longer seen"),),
               started="2026-01-02T00:00:00Z")  # fmt: skip
    page = htmlreport.write(new, layout.load_cells(new)).read_text()
    assert "<link" not in page and "src=" not in page  # no external assets: details load from cell folders
    grid = page[page.index('<table id="grid">') : page.index("</table>", page.index('<table id="grid">'))]
    assert grid.count('class="cell ') == 3 and 'class="cell fail"' in grid and 'class="cell xpass"' in grid
    changes = page[page.index('<ul id="changes">') :]
    assert 'New failures: <ul><li class="fail">1.2.0 x a</li>' in changes
    assert 'Fixed: <ul><li class="pass">1.2.0 x b</li>' in changes
    assert "3.17.2 x a: seed_pandas_split" in changes
    assert "FAIL serve: server never healthy: no 200 from /ping" in page  # the list says why
    details = (new / "1.2.0" / "a" / layout.DETAILS_FILE).read_text()  # loaded when the cell is clicked
    assert details.startswith("rolloutDetail(") and "FAIL at serve: server never healthy: no 200 from /ping" in details
    assert 'data-rel=\\"logs/serve.log\\"' in details and 'data-folder="1.2.0/a"' in page  # relative links
    assert 'title="r1: PASS"' in page  # history of a cell across runs (from history.json)
    assert json.loads((runs / layout.HISTORY_FILE).read_text())["runs"].keys() == {"r1", "r2"}
    probes = (new / "3.17.2" / "a" / layout.DETAILS_FILE).read_text()
    assert "[5.98]" in probes and "format=pandas-split" in probes  # oracle and request of a probe
    assert "[5.98]" not in page  # the page holds summaries, not details


def test_repro_script_replays_the_recorded_commands(tmp_path):
    cell_dir = tmp_path / "run" / "1.2.0" / "uc"
    venv = tmp_path / "venv"
    env = {"VIRTUAL_ENV": str(venv), "MLFLOW_TRACKING_URI": f"file://{cell_dir}/mlruns", "PATH": "x",
           "UV_INDEX_PASSWORD": "s3cret"}  # fmt: skip
    record = cell_dir / "logs" / procs.COMMANDS_FILE
    procs.record_launch(record, [f"{venv}/bin/mlflow", "run", str(cell_dir / "project"), "-P", "alpha=0.5"],
                        {**os.environ, **env}, cell_dir, "train")  # fmt: skip
    for attempt, port in ((1, 5001), (2, 5002)):  # the first port was taken: only the second counts
        serve = [f"{venv}/bin/mlflow", "models", "serve", "-m", "runs:/abc/model", "-h", "127.0.0.1", "-p", str(port)]
        procs.record_launch(record, serve, {**os.environ, **env}, cell_dir, f"serve-{attempt}")
    result = results.CellResult("1.2.0", "uc", str(cell_dir), probes=[probe()])
    text = repro.write(result).read_text()
    assert subprocess.run(["bash", "-n", str(cell_dir / "repro.sh")]).returncode == 0
    assert os.access(cell_dir / "repro.sh", os.X_OK)
    assert f"source {venv}/bin/activate" in text
    assert "s3cret" not in text and "s3cret" not in record.read_text()
    assert f"export MLFLOW_TRACKING_URI=file://{cell_dir}/mlruns" in text
    assert f"{venv}/bin/mlflow run {cell_dir}/project -P alpha=0.5" in text
    assert text.count("models serve") == 1 and '-p "$PORT" &' in text and "5001" not in text
    # the curl line, with $PORT expanded by a shell, is the stored request sent to that port
    line = next(line for line in text.splitlines() if line.startswith("curl "))
    expanded = subprocess.run(["bash", "-c", f"PORT=6123; printf '%s\\0' {line.removeprefix('curl ')}"],
                              capture_output=True, text=True).stdout.split("\0")[:-1]  # fmt: skip
    sent = curl.parse(shlex.join(["curl", *expanded]))
    stored = curl.load(SEED).for_server("127.0.0.1", 6123)
    assert (sent.method, sent.url, sent.headers, sent.body) == (stored.method, stored.url, stored.headers, stored.body)


def test_repro_of_a_cell_that_started_nothing_says_so(tmp_path):
    folder = tmp_path / "c"
    folder.mkdir()
    text = repro.write(results.CellResult("l", "u", str(folder))).read_text()
    assert "nothing to replay" in text and re.search(r"^set -euo pipefail$", text, re.M)


def test_a_neighbouring_run_this_version_cannot_read_does_not_break_the_report(tmp_path):
    """results/ is shared by branches and versions: a run with a kind of cell unknown here is skipped."""
    runs = tmp_path / "runs"
    write_cell(runs / "r1", "1.2.0", "a", started="2026-01-01T00:00:00Z")
    alien = runs / "r0" / "store-upgrade-1.2.0" / "a"
    alien.mkdir(parents=True)
    (alien / "cell.json").write_text(
        json.dumps(
            {
                "label": "1.2.0",
                "usecase": "a",
                "cell_dir": str(alien),
                "kind": "store-upgrade",
                "stages": [{"stage": "x", "status": "pass"}],
            }
        )
    )
    page = htmlreport.write(runs / "r1", layout.load_cells(runs / "r1")).read_text()
    assert 'data-label="1.2.0" data-usecase="a"' in page and "r0" not in page


def test_merge_finds_cells_at_any_depth_of_a_ci_artifact(tmp_path):
    """An artifact whose root is the cell folder itself (no label folder above it) still merges right."""
    run = tmp_path / "job"
    cell = write_cell(run, "2.22.5", "uc", probes=(probe(),))
    artifact = tmp_path / "shards" / "cell-validate-2.22.5-uc"
    artifact.parent.mkdir()
    Path(cell.cell_dir).rename(artifact)
    merge.merge([artifact], tmp_path / "merged")
    (loaded,) = layout.load_cells(tmp_path / "merged")
    assert (loaded.label, loaded.usecase, loaded.status) == ("2.22.5", "uc", PASS)
    assert loaded.cell_dir == str(tmp_path / "merged" / "2.22.5" / "uc")


def test_upgrade_cells_get_the_upgrade_table_with_the_markdown_columns(tmp_path):
    run = tmp_path / "runs" / "r1"
    folder = layout.new_cell_dir(run, "3.17.2", "uc", kind="upgrade")
    stages = [results.StageResult(s, PASS, "fine", 1.0) for s in UPGRADE.stages()]
    cell = results.CellResult("3.17.2", "uc", str(folder), kind="upgrade", from_label="1.2.0", stages=stages)
    cell.write()
    page = htmlreport.write(run, layout.load_cells(run)).read_text()
    table = page[page.index('<table id="upgrades">') : page.index("</table>", page.index('<table id="upgrades">'))]
    header = re.findall(r"<th>(.*?)</th>", table)
    assert header == [h.replace(">", "&gt;") for h in htmlreport.upgrade_header([cell])] and len(header) >= 5
    assert "<td>1.2.0 -&gt; 3.17.2</td><td>uc</td><td>PASS</td>" in table
    assert 'id="grid"' not in page  # no validate cells: no grid
