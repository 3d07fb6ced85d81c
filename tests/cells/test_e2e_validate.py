"""End to end, for real: nox sessions build uv envs from the committed locks, `mlflow run` trains,
`mlflow models serve` serves, stored curl requests are replayed over HTTP. Minutes, not seconds."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest

from rolloutcheck import cells
from rolloutcheck.cells.lifecycle import CellRequest
from rolloutcheck.core.settings import Settings
from rolloutcheck.envs import interpreter
from rolloutcheck.inputs import registry
from rolloutcheck.spec.kinds import VALIDATE
from rolloutcheck.spec.results import FAIL, PASS, SKIP, XFAIL
from sessions import ROOT, alive, interrupt_while_serving, only_cell, ours, stage, validate

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(1800)]

SKLEARN = "sklearn_elasticnet_wine"
UNPUBLISHED = "unpublished"  # a label whose mlflow is a local version: on no public index, ever


@pytest.mark.parametrize(
    "label, seed_status, v2_status",
    [("1.2.SBD.0", PASS, PASS), ("3.17.2", XFAIL, PASS)],
)
def test_sklearn_cell_passes_end_to_end(tmp_path, label, seed_status, v2_status):
    run = tmp_path / "run"
    done = validate(f"validate-{label}({SKLEARN})", run)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    result = only_cell(run, label, SKLEARN)
    assert [s.status for s in result.stages] == [PASS] * 8
    assert result.run_id and len(result.run_id) == 32
    assert result.mlflow_version == {"1.2.SBD.0": "1.2.0", "3.17.2": "3.17.2"}[label]
    assert result.flavor == "sklearn" and result.env_backend == "uv"
    probes = {p.name: p for p in result.probes}
    assert probes["seed_pandas_split"].status == seed_status
    assert probes["dataframe_split"].status == v2_status
    if label == "1.2.SBD.0":  # the seed's request is answered, and equals the in-process prediction
        assert probes["seed_pandas_split"].http_status == 200
        assert "match the oracle" in probes["seed_pandas_split"].reason
    else:  # the 2.0 protocol change, reported as the known break it is
        assert probes["seed_pandas_split"].http_status == 415
        assert "match the oracle" in probes["dataframe_split"].reason
    # the table is printed at the end, and aggregated results exist
    assert f"| {label} ({result.mlflow_version}) | PASS [sklearn]" in done.stdout
    assert (run / "junit.xml").is_file() and (run / "summary.md").is_file()
    assert Path(result.cell_dir, "logs", "serve.log").is_file()

    # An unchanged cell reuses its environment, and the earlier result is kept. This second run
    # has every proxy variable pointing at a dead local port and no NO_PROXY (a corporate laptop):
    # the health wait and the replay must not go through it.
    if label == "1.2.SBD.0":
        dead = "http://127.0.0.1:9"
        again = validate(f"validate-{label}({SKLEARN})", run, HTTP_PROXY=dead, HTTPS_PROXY=dead, http_proxy=dead,
                         https_proxy=dead, ALL_PROXY=dead, NO_PROXY="", no_proxy="")  # fmt: skip
        assert again.returncode == 0, again.stdout[-3000:]
        second = only_cell(run, label, SKLEARN)
        assert second.cell_dir != result.cell_dir and Path(result.cell_dir, "cell.json").is_file()
        assert stage(second, "env").details["reused"] is True
        assert "nothing installed" in stage(second, "env").reason
        assert second.status == PASS and {p.name: p.status for p in second.probes} == {
            "seed_pandas_split": PASS, "dataframe_split": PASS}  # fmt: skip


def test_unresolvable_label_is_a_clear_lock_result(tmp_path):
    """A label added by YAML only whose mlflow cannot exist on any index: a local version (PyPI refuses to
    publish one). A future release was used before and turned green the day it was published (3.18.0)."""
    override = tmp_path / "versions.local.yaml"
    override.write_text(f'labels:\n  "{UNPUBLISHED}": {{mlflow: "mlflow==3.17.2+{UNPUBLISHED}"}}\n')
    run = tmp_path / "run"
    done = validate(f"validate-{UNPUBLISHED}({SKLEARN})", run, ROLLOUT_VERSIONS_OVERRIDE=str(override))
    assert done.returncode != 0
    assert "Traceback" not in done.stdout + done.stderr
    result = only_cell(run, UNPUBLISHED, SKLEARN)
    lock = stage(result, "lock")
    assert lock.status == FAIL and lock.reason.startswith("unresolvable: ")
    assert f"no version of mlflow==3.17.2+{UNPUBLISHED}" in lock.reason, lock.reason
    assert Path(lock.log).is_file()
    assert all(s.status == SKIP for s in result.stages[2:])
    assert f"| {UNPUBLISHED} (?) | FAIL lock: unresolvable" in done.stdout
    assert not (ROOT / "envs" / SKLEARN / UNPUBLISHED).exists()


def test_stale_lock_names_the_refresh_command(tmp_path):
    override = tmp_path / "versions.local.yaml"
    override.write_text('labels:\n  "3.17.2": {constraints: ["pandas<3"]}\n')
    run = tmp_path / "run"
    done = validate(f"validate-3.17.2({SKLEARN})", run, ROLLOUT_VERSIONS_OVERRIDE=str(override))
    assert done.returncode != 0
    lock = stage(only_cell(run, "3.17.2", SKLEARN), "lock")
    assert lock.status == FAIL and "stale lock" in lock.reason
    assert "`nox -s lock-3.17.2`" in lock.reason


def test_missing_python_fails_the_env_stage(tmp_path):
    label = registry.load_labels()["1.2.SBD.0"]
    settings = Settings.from_environ({**os.environ, "ROLLOUT_RUN_DIR": str(tmp_path), "ENV_BACKEND": "uv"})
    result = cells.run(
        CellRequest(
            kind=VALIDATE,
            label=label,
            variant=SKLEARN,
            settings=settings,
            venv=tmp_path / "no-venv",
            python_missing=interpreter.find("3.5").missing,
            printer=lambda m: None,
        )
    )
    env = stage(result, "env")
    assert env.status == FAIL
    assert env.reason.startswith("Python 3.5 is not on this machine: looked in PATH (python3.5), pyenv (")
    assert [s.status for s in result.stages[3:]] == [SKIP] * 5


@pytest.mark.parametrize(
    "signum", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP], ids=["ctrl-c", "sigterm", "sighup-dropped-terminal"]
)
def test_interrupt_while_serving_leaves_no_process(tmp_path, signum):
    run = tmp_path / "run"
    code, tree = interrupt_while_serving(f"validate-1.2.SBD.0({SKLEARN})", run, tmp_path / "nox.log", signum)
    assert code != 0
    survivors = ours(run) + alive(tree)
    assert not survivors, [(p.pid, p.cmdline()) for p in survivors]
    result = only_cell(run, "1.2.SBD.0", SKLEARN)
    interrupted = [s for s in result.stages if s.status == FAIL]
    assert interrupted and "interrupted" in interrupted[0].reason
    json.loads(Path(result.cell_dir, "cell.json").read_text())
