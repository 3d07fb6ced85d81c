"""Real nox sessions on a copy of the repository: broken inputs fail their own cell's config stage
with one line (the rest of the matrix runs and passes), a broken registry is one line and exit 2,
and a run killed with SIGKILL is named in the report and cleaned up by `nox -s cleanup`."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
from pathlib import Path

import pytest
import yaml

from rolloutcheck.spec.results import FAIL, PASS, CellResult
from sessions import NOX, ROOT, SHARED_MODELS, copy_repo, interrupt_while_serving, ours

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(1800)]

SKLEARN = "sklearn_elasticnet_wine"


def add_case(repo: Path, name: str, probes: bool = True) -> Path:
    shutil.copytree(repo / "usecases" / SKLEARN, repo / "usecases" / name)
    if probes:
        shutil.copytree(repo / "probes" / SKLEARN, repo / "probes" / name)
    return repo / "usecases" / name


def nox(repo: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([NOX, *args], cwd=repo, env={**os.environ, **env}, capture_output=True, text=True,
                          timeout=1500)  # fmt: skip


BROKEN = {
    "broken_conda": ("usecases/broken_conda/conda.yaml: not valid YAML", None),
    "no_flavor": ("usecases/no_flavor/usecase.yaml: key 'flavor': missing", None),
    "unknown_key": ("usecases/unknown_key/usecase.yaml: key 'metrcs': unknown key; known: flavor", None),
    "no_mlproject": ("usecases/no_mlproject/MLproject: missing", None),
    "bad_expect": ("probes/bad_expect/seed_pandas_split.expect.yaml", "golden"),
    "bad_body": ("probes/bad_body/dataframe_split.curl: the body is no request form a scoring server reads", None),
}


def test_broken_inputs_fail_their_own_cell_and_the_rest_runs(tmp_path):
    repo = copy_repo(tmp_path / "repo")
    (add_case(repo, "broken_conda") / "conda.yaml").write_text("dependencies: [python=3.11\n")
    spec = add_case(repo, "no_flavor") / "usecase.yaml"
    spec.write_text("\n".join(line for line in spec.read_text().splitlines() if not line.startswith("flavor")))
    spec = add_case(repo, "unknown_key") / "usecase.yaml"
    spec.write_text(spec.read_text().replace("metrics:", "metrcs:"))
    (add_case(repo, "no_mlproject") / "MLproject").rename(repo / "usecases" / "no_mlproject" / "MLProject.yml")
    add_case(repo, "bad_expect")
    (repo / "probes" / "bad_expect" / "seed_pandas_split.expect.yaml").write_text(
        "- {mlflow: '<2', status: 200, golden: 5.1}\n- {mlflow: '>=2', status: 415}\n"
    )
    add_case(repo, "bad_body")
    (repo / "probes" / "bad_body" / "dataframe_split.curl").write_text(
        "curl -X POST -H 'Content-Type: application/json' --data '{\"rows\": [[1]]}' http://127.0.0.1:1/invocations\n"
    )
    add_case(repo, "no_probes", probes=False)  # no stored request and a model without an input example

    listed = nox(repo, "-l")
    assert listed.returncode == 0, listed.stderr[-2000:]
    for name in [*BROKEN, "no_probes", SKLEARN]:  # every folder is a cell, broken ones included
        assert f"validate-1.2.SBD.0({name})" in listed.stdout

    run = tmp_path / "run"
    sessions = [f"validate-1.2.SBD.0({name})" for name in [*BROKEN, "no_probes", SKLEARN]]
    done = nox(repo, "-s", *sessions, ROLLOUT_RUN_DIR=str(run), **SHARED_MODELS)
    output = done.stdout + done.stderr
    assert done.returncode != 0
    assert "Traceback" not in output
    for name, (where, key) in BROKEN.items():
        result = CellResult.from_json((run / "1.2.SBD.0" / name / "cell.json").read_text())
        config = result.stages[0]
        assert (config.stage, config.status, result.status) == ("config", FAIL, FAIL), name
        assert where in config.reason and "\n" not in config.reason, config.reason
        assert key is None or key in config.reason, config.reason
        assert all(s.status == "skip" for s in result.stages[1:]), name
    # nothing to ask: not a config failure (the model might log an example), the probe stage says so
    empty = CellResult.from_json((run / "1.2.SBD.0" / "no_probes" / "cell.json").read_text())
    assert {s.stage: s.status for s in empty.stages}["train"] == PASS and empty.status == FAIL
    probe = next(s for s in empty.stages if s.stage == "probe")
    assert probe.status == FAIL and probe.reason.startswith("no probe ran: no stored request"), probe.reason
    good = CellResult.from_json((run / "1.2.SBD.0" / SKLEARN / "cell.json").read_text())
    assert good.status == PASS, output[-3000:]
    assert f"validate-1.2.SBD.0({SKLEARN}): success" in output
    # the decision of that run: bad input, exit 2, each broken file named once; never "does not run on
    # production" for a file of the repository (issue 43 item 0: it read GO)
    decided = nox(repo, "-s", "decide", "--", str(run))
    assert decided.returncode == 2, decided.stdout[-2000:] + decided.stderr[-2000:]
    made = json.loads((run / "decision.json").read_text())
    assert made["verdict"] == "BAD INPUT" and {row["cell"].split(" x ")[1] for row in made["bad_input"]} == set(BROKEN)
    assert not {row["cell"].split(" x ")[1] for row in made["not_on_production"]} & set(BROKEN)  # no_probes may be
    for name, (where, _) in BROKEN.items():
        assert sum(f"bad input: {where}" in line for line in decided.stderr.splitlines()) == 1, (name, decided.stderr)


def test_a_rollout_with_a_bad_file_stops_before_any_cell_in_one_line_and_exit_2(tmp_path):
    """Issue 43 item 0, as measured: a probe added without its expectation made `nox -s rollout-3.17.2 --
    --usecase xgboost_adult` read GO, exit 0, "0 of 3 cells passed"."""
    repo = copy_repo(tmp_path / "repo")
    shutil.copy(repo / "probes" / "xgboost_adult" / "dataframe_split.curl", repo / "probes" / "xgboost_adult" /
                "records.curl")  # fmt: skip
    run = tmp_path / "run"
    done = nox(repo, "-s", "rollout-3.17.2", "--", "--usecase", "xgboost_adult", ROLLOUT_RUN_DIR=str(run))
    assert done.returncode == 2, done.stdout[-2000:] + done.stderr[-2000:]
    lines = [line for line in done.stderr.splitlines() if "bad input: " in line]
    assert len(lines) == 1 and "probes/xgboost_adult/records.curl: no expectation" in lines[0], done.stderr[-2000:]
    assert "Traceback" not in done.stdout + done.stderr and not list(run.glob("*/*/cell.json"))


def test_broken_registry_is_one_line_and_exit_2(tmp_path):
    repo = copy_repo(tmp_path / "repo")
    versions = repo / "envs" / "versions.yaml"
    versions.write_text(versions.read_text().replace("    mlflow: mlflow==1.30.1\n", ""))
    done = nox(repo, "-l")
    assert done.returncode == 2
    assert "Traceback" not in done.stdout + done.stderr
    assert "envs/versions.yaml: label '1.30.1': key 'mlflow': missing" in done.stderr
    versions.write_text("labels:\n  x: {mlflow: [\n")
    done = nox(repo, "-s", "report")
    assert done.returncode == 2 and "not valid YAML" in done.stderr and "Traceback" not in done.stderr


@pytest.mark.xdist_group("leftovers")  # `nox -s cleanup` stops every leftover on the machine
def test_sigkilled_run_is_reported_missing_and_cleaned_up(tmp_path):
    """SIGKILL cannot be handled: the servers survive nox, `nox -s cleanup` stops them, and the
    report of the run names the unfinished cell and the cells that never ran."""
    run = tmp_path / "run"
    code, _ = interrupt_while_serving(f"validate-1.2.SBD.0({SKLEARN})", run, tmp_path / "nox.log", signal.SIGKILL)
    assert code == -signal.SIGKILL
    assert ours(run), "expected the killed run's server to outlive nox"
    cleanup = subprocess.run([NOX, "-s", "cleanup"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert cleanup.returncode == 0, cleanup.stderr[-2000:]
    assert not ours(run), [p.cmdline() for p in ours(run)]
    owner = json.loads(next(run.glob(f"1.2.SBD.0/{SKLEARN}/owner.json")).read_text())
    assert owner["marker"]  # the marker is saved in the cell folder

    report = subprocess.run([NOX, "-s", "report", "--", str(run), "1.2.SBD.0", "3.17.2"], cwd=ROOT,
                            capture_output=True, text=True, timeout=300)  # fmt: skip
    assert report.returncode != 0
    assert f"1.2.SBD.0 x {SKLEARN}" in report.stderr and "never finished" in report.stdout
    assert f"3.17.2 x {SKLEARN}" in report.stderr and "missing" in report.stdout


def test_a_nox_without_the_tools_dependencies_builds_them_from_the_noxfile(tmp_path):
    """`pipx install nox` / `uvx nox`: only nox is there; the PEP 723 block in noxfile.py brings the rest."""
    repo = copy_repo(tmp_path / "repo")
    venv = tmp_path / "only-nox"
    uv = shutil.which("uv", path=str(Path(NOX).parent)) or "uv"
    subprocess.run([uv, "venv", "-q", "--python", "3.11", str(venv)], check=True, timeout=300)
    subprocess.run([uv, "pip", "install", "-q", "--python", str(venv / "bin" / "python"), "nox==2026.10.20"],
                   check=True, timeout=600)  # fmt: skip
    lacking = subprocess.run([str(venv / "bin" / "python"), "-c", "import yaml"], capture_output=True)
    assert lacking.returncode != 0  # the nox here really lacks the tool's dependencies
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "NOX_SCRIPT_MODE", "PYTHONPATH")}
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env['PATH']}"
    done = subprocess.run([str(venv / "bin" / "nox"), "-l"], cwd=repo, env=env, capture_output=True, text=True,
                          timeout=900)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"validate-1.2.SBD.0({SKLEARN})" in done.stdout and "No module named" not in done.stderr
    assert (repo / ".nox" / "_nox_script_mode" / "bin" / "python").exists()


def test_matrix_with_a_killed_label_fails_and_names_its_cells(tmp_path):
    """`make matrix` where the nox of a cell dies (as by the OOM killer): the matrix exits non-zero
    and the report names that cell as missing, while the other label's cell passes."""
    repo = copy_repo(tmp_path / "repo")
    for folder in (repo / "usecases").iterdir():  # one use case keeps the matrix short
        if folder.is_dir() and folder.name not in (SKLEARN, "_stores"):
            shutil.rmtree(folder)
    registry = repo / "envs" / "versions.yaml"  # and two labels: one that passes, one whose nox is killed
    versions = yaml.safe_load(registry.read_text())
    versions["labels"] = {name: versions["labels"][name] for name in ("1.2.SBD.0", "3.17.2")}
    registry.write_text(yaml.safe_dump(versions, sort_keys=False))
    wrapper = tmp_path / "nox"
    wrapper.write_text(f'#!/bin/sh\ncase "$*" in *validate-3.17.2*) kill -9 $$ ;; esac\nexec "{NOX}" "$@"\n')
    wrapper.chmod(0o755)
    tools = tmp_path / "tools"  # bootstrapped already: the nox under test is the wrapper
    tools.mkdir()
    (tools / ".stamp").touch()
    run = tmp_path / "run"
    env = {**os.environ, "ROLLOUT_RUN_DIR": str(run), **SHARED_MODELS}
    done = subprocess.run(["make", "matrix", f"NOX={wrapper}", f"TOOLS={tools}"], cwd=repo, env=env,
                          capture_output=True, text=True, timeout=1500)  # fmt: skip
    output = done.stdout + done.stderr
    assert done.returncode != 0, output[-3000:]
    assert "missing: the selection asked for it" in done.stdout
    assert f"3.17.2 x {SKLEARN}" in output
    table = (run / "summary.md").read_text()
    assert "| 1.2.SBD.0 (1.2.0) | PASS [sklearn]" in table
    assert "| 3.17.2 (?) | FAIL cell: missing" in table
