"""Shards and merge for real: two cells run as two shards (two machines' worth, at once) and merged,
against the same two cells run as one matrix; the tables must agree (times aside). Then a cell's
repro.sh is replayed outside the tool: it trains, serves on its own port and gets the answers."""

from __future__ import annotations

import re
import subprocess
import time
from pathlib import Path

import pytest

from sessions import NOX, ROOT, nox_env, ours

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(1800)]

SKLEARN = "sklearn_elasticnet_wine"
SELECTION = ["--usecase", SKLEARN, "--label", "1.2.SBD.0", "--label", "3.17.2"]


def matrix(run: Path, *extra: str) -> subprocess.Popen:
    return subprocess.Popen([NOX, "-s", "matrix", "--", *SELECTION, *extra], cwd=ROOT, env=nox_env(run),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)  # fmt: skip


def table(run: Path) -> list[str]:
    """The label x use case table of a run, without what differs between runs (speed, folders)."""
    text = (run / "summary.md").read_text().split("\nNotes:")[0]
    return [re.sub(r", p95 \d+ ms", "", line) for line in text.strip().splitlines()]


def test_two_shards_merged_equal_one_run(tmp_path):
    started = time.monotonic()
    shards = [matrix(tmp_path / f"shard{k}", "--shard", f"{k}/2") for k in (1, 2)]
    outputs = [p.communicate(timeout=1700)[0] for p in shards]
    assert [p.returncode for p in shards] == [0, 0], outputs
    for out in outputs:  # one cell each, with progress lines
        assert re.search(r"\[1/1\] start validate-\S+\(sklearn_elasticnet_wine\) \.\.\. ~\d+ (s|min) left", out), out
        assert "[1/1] end validate-" in out and ": PASS in " in out
    merged = tmp_path / "merged"
    done = subprocess.run([NOX, "-s", "merge", "--", str(tmp_path / "shard1"), str(tmp_path / "shard2"),
                           "--into", str(merged)], cwd=ROOT, capture_output=True, text=True)  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    sharded = time.monotonic() - started
    assert f"HTML report: {merged / 'report.html'}" in done.stdout

    started = time.monotonic()
    single = matrix(tmp_path / "single")
    out = single.communicate(timeout=1700)[0]
    assert single.returncode == 0, out[-3000:]
    alone = time.monotonic() - started
    print(f"\n2 shards at once + merge: {sharded:.0f} s; one matrix of the same cells: {alone:.0f} s")

    assert table(merged) == table(tmp_path / "single")
    assert len(table(merged)) == 4 and "| 1.2.SBD.0 (1.2.0) | PASS [sklearn]" in table(merged)[2]
    for run in (merged, tmp_path / "single"):
        assert (run / "junit.xml").is_file() and (run / "report.html").is_file()
        assert sorted(p.parent.name for p in run.glob("*/*/repro.sh")) == [SKLEARN, SKLEARN]
    assert "validate-3.17.2(sklearn_elasticnet_wine)" in (merged / "selection.json").read_text()

    # repro.sh, by hand: the commands the cell ran, replayed outside the tool
    repro = tmp_path / "single" / "1.2.SBD.0" / SKLEARN / "repro.sh"
    replay = subprocess.run(["bash", str(repro)], env=nox_env(tmp_path / "single"), capture_output=True, text=True,
                            timeout=600)  # fmt: skip
    assert replay.returncode == 0, replay.stderr[-3000:]
    assert "Run (ID '" in replay.stderr + replay.stdout  # mlflow run trained again
    assert replay.stdout.count("HTTP/1.1 200 OK") >= 1 and "[5.98" in replay.stdout
    assert not ours(tmp_path / "single"), "repro.sh left a server running"
