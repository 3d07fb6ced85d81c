"""End to end, for real: nox sessions build uv envs from the committed locks, `mlflow run` trains,
`mlflow models serve` serves, stored curl requests are replayed over HTTP. Minutes, not seconds."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
from rolloutcheck import cell, registry, usecases
from rolloutcheck.results import FAIL, PASS, SKIP, XFAIL, CellResult

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(1800)]

ROOT = Path(__file__).resolve().parents[1]
NOX = str(Path(sys.executable).with_name("nox"))
SKLEARN = "sklearn_elasticnet_wine"


def ours(run: Path) -> list[psutil.Process]:
    """Live processes started for this run (they inherit ROLLOUT_RUN_DIR)."""
    found = []
    for proc in psutil.process_iter():
        try:
            if proc.environ().get("ROLLOUT_RUN_DIR") == str(run) and proc.pid != os.getpid():
                found.append(proc)
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
    return found


def nox_env(run: Path, **extra: str) -> dict[str, str]:
    return {**os.environ, "ROLLOUT_RUN_DIR": str(run), **extra}


def validate(session: str, run: Path, **extra: str) -> subprocess.CompletedProcess:
    done = subprocess.run(
        [NOX, "-s", session], cwd=ROOT, env=nox_env(run, **extra), capture_output=True, text=True, timeout=1700
    )
    assert not ours(run), "processes survived the session"
    return done


def only_cell(run: Path, label: str, usecase: str = SKLEARN) -> CellResult:
    found = sorted(run.glob(f"{label}/{usecase}*/cell.json"))
    assert found, f"no cell.json under {run}"
    return CellResult.from_json(found[-1].read_text())


def stage(result: CellResult, name: str):
    return next(s for s in result.stages if s.stage == name)


@pytest.mark.parametrize(
    "label, seed_status, v2_status",
    [("1.2.SBD.0", PASS, PASS), ("3.17.2", XFAIL, PASS)],
)
def test_sklearn_cell_passes_end_to_end(tmp_path, label, seed_status, v2_status):
    run = tmp_path / "run"
    done = validate(f"validate-{label}({SKLEARN})", run)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    result = only_cell(run, label)
    assert [s.status for s in result.stages] == [PASS] * 6
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

    # An unchanged cell reuses its environment, and the earlier result is kept.
    if label == "1.2.SBD.0":
        again = validate(f"validate-{label}({SKLEARN})", run)
        assert again.returncode == 0, again.stdout[-3000:]
        second = only_cell(run, label)
        assert second.cell_dir != result.cell_dir and Path(result.cell_dir, "cell.json").is_file()
        assert stage(second, "env").details["reused"] is True
        assert "nothing installed" in stage(second, "env").reason


def test_unresolvable_label_is_a_clear_lock_result(tmp_path):
    """3.18.0 added by YAML only: its mlflow-skinny is not on the index."""
    override = tmp_path / "versions.local.yaml"
    override.write_text('labels:\n  "3.18.0": {mlflow: "mlflow==3.18.0"}\n')
    run = tmp_path / "run"
    done = validate(f"validate-3.18.0({SKLEARN})", run, ROLLOUT_VERSIONS_OVERRIDE=str(override))
    assert done.returncode != 0
    assert "Traceback" not in done.stdout + done.stderr
    result = only_cell(run, "3.18.0")
    lock = stage(result, "lock")
    assert lock.status == FAIL and lock.reason.startswith("unresolvable: ")
    assert "mlflow-skinny" in lock.reason and Path(lock.log).is_file()
    assert all(s.status == SKIP for s in result.stages[1:])
    assert "| 3.18.0 (?) | FAIL lock: unresolvable" in done.stdout
    assert not (ROOT / "envs" / SKLEARN / "3.18.0").exists()


def test_stale_lock_names_the_refresh_command(tmp_path):
    override = tmp_path / "versions.local.yaml"
    override.write_text('labels:\n  "3.17.2": {constraints: ["pandas<3"]}\n')
    run = tmp_path / "run"
    done = validate(f"validate-3.17.2({SKLEARN})", run, ROLLOUT_VERSIONS_OVERRIDE=str(override))
    assert done.returncode != 0
    lock = stage(only_cell(run, "3.17.2"), "lock")
    assert lock.status == FAIL and "stale lock" in lock.reason
    assert "`nox -s lock-3.17.2`" in lock.reason


def test_missing_python_fails_the_env_stage(tmp_path):
    label = registry.load_labels()["1.2.SBD.0"]
    case = usecases.discover()[SKLEARN]
    result = cell.run_cell(
        label, case, tmp_path / "no-venv", python_missing="3.7", run=tmp_path, printer=lambda m: None
    )
    env = stage(result, "env")
    assert env.status == FAIL
    assert env.reason == "Python 3.7 named in conda.yaml is not installed on this machine"
    assert [s.status for s in result.stages[2:]] == [SKIP] * 4


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_interrupt_while_serving_leaves_no_process(tmp_path, signum):
    run = tmp_path / "run"
    log = (tmp_path / "nox.log").open("w")
    nox = subprocess.Popen(
        [NOX, "-s", f"validate-1.2.SBD.0({SKLEARN})"], cwd=ROOT, env=nox_env(run),
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    deadline = time.monotonic() + 900
    server = []
    while time.monotonic() < deadline and nox.poll() is None:
        server = [p for p in ours(run) if "serve" in " ".join(p.cmdline())]
        if server:
            break
        time.sleep(0.5)
    assert server, f"the server never started: {(tmp_path / 'nox.log').read_text()[-2000:]}"
    time.sleep(3)  # let it spawn its workers
    tree = {p.pid for p in server} | {c.pid for p in server for c in p.children(recursive=True)}
    # Ctrl-C in a terminal signals the foreground process group: nox and what shares its group.
    os.killpg(nox.pid, signum) if signum == signal.SIGINT else nox.send_signal(signum)
    nox.wait(timeout=120)
    assert nox.returncode != 0
    survivors = [p for p in ours(run) if p.is_running()] + [p for p in map(_alive, tree) if p]
    assert not survivors, [(p.pid, p.cmdline()) for p in survivors]
    result = only_cell(run, "1.2.SBD.0")
    interrupted = [s for s in result.stages if s.status == FAIL]
    assert interrupted and "interrupted" in interrupted[0].reason
    json.loads(Path(result.cell_dir, "cell.json").read_text())


def _alive(pid: int) -> psutil.Process | None:
    try:
        proc = psutil.Process(pid)
        return proc if proc.status() != psutil.STATUS_ZOMBIE else None
    except psutil.NoSuchProcess:
        return None
