"""The CI files compute the cells nox lists, run exactly one cell per job, and merge them."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
from pathlib import Path

import pytest
import yaml

from rolloutcheck.ci import selection as cells
from rolloutcheck.spec.kinds import KINDS
from sessions import ROOT

WORKFLOW = ROOT / ".github" / "workflows" / "rolloutcheck.yml"
ROLLOUT = " ".join(KINDS)  # what both CI files select: every kind of cell
JENKINSFILE = ROOT / "Jenkinsfile"


@pytest.fixture(scope="module")
def nox_cells() -> list[str]:
    """What nox itself lists as the rollout selection's cells (its own `nox -l --json`, by tag)."""
    listed = cells.nox_list(list(KINDS), ROOT / "noxfile.py")
    return sorted(e["session"] for e in listed)


def run_make(command: str, tmp_path: Path, **env: str) -> None:
    """Run a `make cells ...` line as CI does, its OUT redirected into tmp_path."""
    words = [w if not w.startswith("OUT=") else f"OUT={tmp_path / w[4:]}" for w in shlex.split(command)]
    done = subprocess.run(words, cwd=ROOT, capture_output=True, text=True, env={**os.environ, **env})
    assert done.returncode == 0, done.stderr[-2000:]


def workflow() -> dict:
    return yaml.safe_load(WORKFLOW.read_text())


def test_github_matrix_is_the_cells_nox_lists(tmp_path, nox_cells):
    flow = workflow()
    step = next(s for s in flow["jobs"]["cells"]["steps"] if s.get("id") == "cells")
    command = next(line.strip() for line in step["run"].splitlines() if line.strip().startswith("make cells"))
    assert flow["env"]["KIND"].split("#")[0].strip() == ROLLOUT  # make cells reads KIND from the environment
    run_make(command, tmp_path, LABEL="", KIND=ROLLOUT)
    matrix = json.loads((tmp_path / "cells.json").read_text())
    assert sorted(e["session"] for e in matrix["include"]) == nox_cells
    # the cell job runs exactly its cell, caches uv by the cell's lock, uploads its folder
    job = flow["jobs"]["cell"]
    assert job["strategy"]["matrix"] == "${{ fromJSON(needs.cells.outputs.matrix) }}"
    assert job["env"]["SESSION"] == "${{ matrix.session }}"
    assert any(s.get("run") == 'make cell SESSION="$SESSION"' for s in job["steps"])
    cache = next(s for s in job["steps"] if s.get("uses", "").startswith("actions/cache"))
    assert "requirements.lock" in cache["with"]["key"] and cache["with"]["path"] == "~/.cache/uv"
    # a manual run with one label selects that label only
    run_make(command, tmp_path, LABEL="2.22.5", KIND=ROLLOUT)
    only = json.loads((tmp_path / "cells.json").read_text())
    assert sorted(e["session"] for e in only["include"]) == [s for s in nox_cells if "-2.22.5(" in s]
    assert {e["kind"] for e in only["include"]} == set(KINDS) - {"models"}  # models cells: only with a store copy


def test_github_triggers_and_merge(nox_cells):
    flow = workflow()
    triggers = flow[True] if True in flow else flow["on"]  # YAML 1.1 reads `on` as True
    assert set(triggers["pull_request"]["paths"]) == {"envs/**", "usecases/**", "probes/**"}
    assert "label" in triggers["workflow_dispatch"]["inputs"]
    merge = flow["jobs"]["merge"]
    text = json.dumps(merge)
    assert "make merge EXPECT=cells.txt" in text and "GITHUB_STEP_SUMMARY" in text and "report.html" in text
    assert any("action-junit-report" in s.get("uses", "") for s in merge["steps"])
    # the decision of the merged run is the job summary and the build's verdict
    assert "make decide RUN=results/runs/merged" in text and "decision.md" in text
    gate = merge["steps"][-1]
    assert "VERDICT" in gate["env"] and '"GO"' in gate["run"] and "ALLOW_ACTIONS" in gate["run"]
    assert "allow_actions" in triggers["workflow_dispatch"]["inputs"]


def test_jenkins_stages_are_the_cells_nox_lists(tmp_path, nox_cells):
    text = JENKINSFILE.read_text()
    command = re.search(r"sh '(make cells [^']*)'", text)[1]
    assert f"KIND = '{ROLLOUT}'" in text
    run_make(command, tmp_path, LABEL="", KIND=ROLLOUT)
    assert sorted((tmp_path / "cells.txt").read_text().split()) == nox_cells
    assert "readFile('cells.txt').readLines()" in text  # the parallel branches come from that list
    assert "sh 'make cell SESSION=\"$SESSION\"'" in text and "parallel cellSessions.collectEntries" in text
    assert "changeset 'envs/versions.yaml'" in text
    for step in (
        "junit testResults: 'results/runs/merged/junit.xml'",
        "archiveArtifacts",
        "make merge EXPECT=cells.txt",
        "make decide RUN=results/runs/merged",
        "results/runs/merged/decision.md",
        "params.ALLOW_ACTIONS",
    ):
        assert step in text


def test_make_cell_runs_exactly_one_session():
    done = subprocess.run(["make", "-n", "cell", "SESSION=validate-3.17.2(h2o_wine)"], cwd=ROOT,
                          capture_output=True, text=True)  # fmt: skip
    assert done.stdout.strip().splitlines()[-1].endswith("-s 'validate-3.17.2(h2o_wine)'")
