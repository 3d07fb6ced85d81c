"""Cells as data from nox's real session list, selections, shards, and the progress estimate."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from rolloutcheck.ci import progress
from rolloutcheck.ci import selection as cells
from rolloutcheck.ci.selection import Cell
from rolloutcheck.inputs import production as production_decl
from rolloutcheck.inputs import registry, usecases
from rolloutcheck.inputs import stores as storeconfig
from rolloutcheck.reports import aggregate
from sessions import NOX
from synthetic import ROOT, write_cell


@pytest.fixture(scope="module")
def listed() -> list[Cell]:
    return cells.from_nox_json(cells.nox_list(list(cells.KINDS), ROOT / "noxfile.py"))


def test_every_label_and_usecase_is_a_cell_of_each_kind(listed):
    labels = list(registry.load_labels())
    production = production_decl.load().label
    validate = {(c.label, c.usecase) for c in listed if c.kind == "validate"}
    upgrade = {(c.label, c.usecase) for c in listed if c.kind == "upgrade"}
    assert validate == {(label, u) for label in labels for u in usecases.names()}
    assert upgrade == {(label, u) for label in labels if label != production for u in usecases.names()}
    stores = {(c.label, c.usecase) for c in listed if c.kind == "store-upgrade"}  # the cell is a store kind
    assert stores == {(label, s) for label in labels if label != production for s in storeconfig.store_kinds()}
    assert all(c.session == f"{c.kind}-{c.label}({c.usecase})" for c in listed)
    # ordered: kinds, then labels and use cases in natural order (1.30.1 after 1.2.SBD.0, 3.17.2 last)
    assert [c.kind for c in listed] == sorted((c.kind for c in listed), key=cells.KINDS.index)
    assert [c.label for c in listed if c.kind == "validate"][-1] == "3.17.2"


def test_shards_are_a_deterministic_partition(listed):
    for n in (1, 2, 3, 5, 40):
        parts = [cells.shard(listed, k, n) for k in range(1, n + 1)]
        assert sorted(c.session for part in parts for c in part) == sorted(c.session for c in listed)
        assert max(map(len, parts)) - min(map(len, parts)) <= 1  # balanced
        assert parts == [cells.shard(listed, k, n) for k in range(1, n + 1)]
    # each use case is spread over the shards (its slow cells do not pile up on one machine)
    validate = [c for c in listed if c.kind == "validate"]
    for usecase in usecases.names():
        counts = [sum(c.usecase == usecase for c in cells.shard(validate, k, 2)) for k in (1, 2)]
        assert abs(counts[0] - counts[1]) <= 1, (usecase, counts)
    assert cells.parse_shard("2/4") == (2, 4)
    for bad in ("0/4", "5/4", "2", "a/b", "2/0"):
        with pytest.raises(cells.SelectionError):
            cells.parse_shard(bad)


def test_selection_filters_and_refuses_unknown_names(listed):
    picked = cells.select(listed, labels=["3.17.2"], usecases=["sklearn_elasticnet_wine"])
    assert [c.session for c in picked] == ["validate-3.17.2(sklearn_elasticnet_wine)",
                                           "upgrade-3.17.2(sklearn_elasticnet_wine)"]  # fmt: skip
    assert [c.session for c in cells.select(listed, sessions=["validate-1.30.1"])] == [
        f"validate-1.30.1({u})" for u in usecases.names()]  # fmt: skip
    with pytest.raises(cells.SelectionError, match="unknown label"):
        cells.select(listed, labels=["9.9.9"])


def test_cells_session_formats(tmp_path):
    """What CI consumes: the github matrix, the lines list, the json list, via the real nox session."""
    out = tmp_path / "m.json"
    done = subprocess.run([NOX, "-s", "cells", "--", "--format", "github", "--output", str(out), "--label", "2.22.5"],
                          cwd=ROOT, capture_output=True, text=True)  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    matrix = json.loads(out.read_text())
    assert [e["session"] for e in matrix["include"]] == [f"validate-2.22.5({u})" for u in usecases.names()]
    assert {"kind", "label", "usecase", "slug"} <= set(matrix["include"][0])
    lines = cells.render(cells.from_nox_json([{"session": "validate-a(b)", "name": "validate-a", "tags": ["validate"],
                                               "call_spec": {"usecase": "b"}}]), "lines")  # fmt: skip
    assert lines == "validate-a(b)\n"
    bad = subprocess.run([NOX, "-s", "cells", "--", "--label", "nope"], cwd=ROOT, capture_output=True, text=True)
    assert bad.returncode != 0 and "unknown label" in bad.stderr


def test_a_cell_session_name_selects_one_cell():
    assert aggregate.selection_cells(["validate-3.17.2(h2o_wine)", "upgrade-2.22.5(tensorflow)"]) == [
        ("validate", "3.17.2", "h2o_wine"), ("upgrade", "2.22.5", "tensorflow")]  # fmt: skip


def test_progress_estimates_time_left_from_earlier_runs(tmp_path):
    runs = tmp_path / "runs"
    write_cell(runs / "old", "1.2.0", "a", seconds=10.0)  # 8 stages x 10 s
    write_cell(runs / "old2", "1.2.0", "a", seconds=20.0)
    seen = progress.history(runs)
    estimate = progress.Estimate(seen)
    assert estimate.seconds(("validate", "1.2.0", "a")) == 120.0  # median of 80 and 160
    assert estimate.seconds(("validate", "9", "z")) == 120.0  # unknown: median of all seen
    lines: list[str] = []
    bar = progress.Progress([("validate", "1.2.0", "a"), ("validate", "9", "z")], estimate, 1, lines.append)
    bar.start(("validate", "1.2.0", "a"), "validate-1.2.0(a)")
    bar.end(("validate", "1.2.0", "a"), "validate-1.2.0(a)", "PASS")
    assert lines[0] == "[1/2] start validate-1.2.0(a) ... ~4 min left"
    # the unseen cell is now guessed from this run's finished one (0 s here), no longer from history
    assert lines[1] == "[1/2] end validate-1.2.0(a): PASS in 0s ... ~0 s left"
    assert progress.history(runs, exclude=runs / "old2") == {("validate", "1.2.0", "a"): [80.0]}
    # a cell never seen before is guessed from the cells this run already finished
    fresh = progress.Progress([("validate", "n", "1"), ("validate", "n", "2")], progress.Estimate({}), 1, lines.append)
    fresh.start(("validate", "n", "1"), "n1")
    fresh.started[("validate", "n", "1")] -= 600  # it took ten minutes
    fresh.end(("validate", "n", "1"), "n1", "PASS")
    assert lines[-1].endswith("~10 min left")


def test_make_passes_shard_and_jobs_to_the_matrix_session():
    done = subprocess.run(["make", "-n", "-j2", "matrix", "SHARD=2/4", "LABEL=3.17.2"], cwd=ROOT,
                          capture_output=True, text=True)  # fmt: skip
    assert "/bin/nox' --jobs 2 --shard 2/4 --label 3.17.2" in done.stdout, done.stdout + done.stderr


def test_a_stopped_matrix_starts_no_more_cells_and_stops_the_running_one(tmp_path):
    """SIGTERM to the matrix (as CI's cancel does): the running cell's process gets SIGTERM, queued
    cells never start, and the table names them as missing."""
    import os
    import signal
    import sys
    import threading

    from rolloutcheck.ci import matrix

    listed = [Cell(f"validate-1.2.0(uc{i})", "validate", "1.2.0", f"uc{i}") for i in range(3)]
    marker = tmp_path / "started"
    slow = [sys.executable, "-c", f"open({str(marker)!r}, 'a').write('x'); import time; time.sleep(60)"]
    threading.Timer(2.0, os.kill, (os.getpid(), signal.SIGTERM)).start()
    lines: list[str] = []
    with pytest.raises(KeyboardInterrupt):
        matrix.run_matrix(listed, tmp_path / "run", slow, jobs=1, printer=lines.append)
    assert marker.read_text() == "x"  # one cell started, the other two never did
    assert [line for line in lines if " start " in line] == [lines[0]] and "uc0" in lines[0]
    assert "[1/3] end validate-1.2.0(uc0): no result" in lines[-1]
    assert (tmp_path / "run" / "summary.md").read_text().count("FAIL cell: missing") == 3  # every cell named


def test_a_rollout_selection_takes_productions_validate_cells_of_its_use_cases_first(listed):
    """What already fails on production is not the rollout's: the decision needs those cells in the run."""
    production = production_decl.load().label
    picked = cells.select([c for c in listed if c.kind in ("validate", "upgrade")], ["3.17.2"], ["h2o_wine"])
    with_production = cells.alongside(listed, picked, production)
    assert [c.session for c in with_production] == [
        f"validate-{production}(h2o_wine)", "validate-3.17.2(h2o_wine)", "upgrade-3.17.2(h2o_wine)"]  # fmt: skip
    assert cells.alongside(listed, with_production, production) == with_production  # never twice
    with pytest.raises(cells.SelectionError, match="no validate cells"):
        cells.alongside(listed, picked, "9.9.9")


def test_the_time_left_of_a_first_run_holds_within_30_percent_from_the_third_cell():
    """Issue 42: a first rollout said "~5 min left" for ten minutes while its upgrade cells ran: every unseen
    cell was guessed as the median of the (short) validate cells done. Now by kind (priors, then this run's
    cells of that kind), and a cell past its estimate is never counted as done. Durations of a cold rollout."""
    plan = [("validate", 40), ("validate", 45), ("validate", 50), ("validate", 42), ("upgrade", 130),
            ("upgrade", 150), ("store-upgrade", 60)]  # fmt: skip
    keys = [(kind, "3.17.2", f"u{n}") for n, (kind, _) in enumerate(plan)]
    lines: list[str] = []
    bar = progress.Progress(keys, progress.Estimate({}), 1, lines.append)
    for n, (key, (_, took)) in enumerate(zip(keys, plan, strict=True)):
        bar.start(key, key[2])
        bar.started[key] -= took  # it ran `took` seconds
        bar.end(key, key[2], "PASS")
        really = sum(t for _, t in plan[n + 1 :])
        if n >= 2 and really:
            assert abs(bar.left() - really) <= 0.3 * really, (n, bar.left(), really)
    running = progress.Progress(keys[4:5], progress.Estimate({}), 1, lines.append)
    running.start(keys[4], "u4")
    running.started[keys[4]] -= 400  # far past the 120 s an upgrade cell is expected to take
    assert running.left() == 120 * progress.OVERDUE  # still running: not nothing left


TESTS, SCRIPTS = str(Path(__file__).parents[1]), str(Path(__file__).parents[2] / "scripts")
FLAKY_CELL = """
import sys
from pathlib import Path
sys.path[:0] = [{tests!r}, {scripts!r}]
from synthetic import write_cell
from rolloutcheck.spec import layout
run, usecase = Path({run!r}), sys.argv[-1].split("(")[1].rstrip(")")
first = not (run / "1.2.SBD.0" / usecase).exists()
write_cell(run, "1.2.SBD.0", usecase, failing="serve" if first and usecase == "flaky" else None,
           reason="server never healthy: no 200 from /ping within 180s")
sys.exit(1 if first and usecase == "flaky" else 0)
"""


def test_productions_failing_cell_runs_once_more_and_a_flake_is_said_never_used(tmp_path):
    """Issue 43 item 1: production's validate cell that failed once counted, and stopped its upgrade as "does not
    run on production". A stand-in for nox (this machine's Python writing the cell's result as a cell does):
    the cell fails its first attempt and passes its second."""
    import sys

    from rolloutcheck.ci import matrix
    from rolloutcheck.spec import layout
    from rolloutcheck.spec.results import PASS

    run = tmp_path / "run"
    script = tmp_path / "cell.py"
    script.write_text(FLAKY_CELL.format(tests=TESTS, scripts=SCRIPTS, run=str(run)))
    listed = [Cell(f"validate-1.2.SBD.0({u})", "validate", "1.2.SBD.0", u) for u in ("flaky", "steady")]
    lines: list[str] = []
    code, _ = matrix.run_matrix(listed, run, [sys.executable, str(script)], printer=lines.append,
                                again=lambda cell: cell.label == "1.2.SBD.0")  # fmt: skip
    assert code == 0 and any("run once more before it counts" in line and "flaky" in line for line in lines)
    newest = {c.usecase: c for c in layout.load_cells(run)}
    assert newest["flaky"].status == PASS and newest["flaky"].cell_dir.endswith("flaky.2")  # the second counts
    ((earlier, passed),) = layout.flakes(run)  # the first is kept and said
    assert earlier.cell_dir.endswith("flaky") and passed is not None and "serve" in earlier.failure().stage
    # the decision says the flake and counts the second run
    from rolloutcheck import entry
    from rolloutcheck.core.settings import Settings

    tool = entry.Tool(Settings.from_environ({"ROLLOUT_RESULTS": str(tmp_path)}), registry.load_labels(),
                      production_decl.load())  # fmt: skip
    entry.decide(tool, [str(run)], printer=lines.append)
    notes = json.loads((run / "decision.json").read_text())["notes"]
    assert any(n.startswith("flake: ") and "failed once (serve: server never healthy" in n for n in notes), notes
    # a cell nobody asked to run again fails as it did
    once = tmp_path / "once"
    script.write_text(FLAKY_CELL.format(tests=TESTS, scripts=SCRIPTS, run=str(once)))
    code, _ = matrix.run_matrix(listed, once, [sys.executable, str(script)], printer=lines.append)
    assert code == 1 and not layout.flakes(once)
