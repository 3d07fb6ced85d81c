"""Helpers for end-to-end tests: run real nox sessions and inspect what they left behind."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil

from rolloutcheck.spec.results import CellResult

ROOT = Path(__file__).resolve().parents[1]
NOX = str(Path(sys.executable).with_name("nox"))


def ours(run: Path) -> list[psutil.Process]:
    """Live processes started for this run (they inherit ROLLOUT_RUN_DIR): servers, workers, JVMs."""
    found = []
    for proc in psutil.process_iter():
        try:
            if proc.environ().get("ROLLOUT_RUN_DIR") == str(run) and proc.pid != os.getpid():
                if proc.status() != psutil.STATUS_ZOMBIE:
                    found.append(proc)
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
    return found


def cmdline(proc: psutil.Process) -> list[str]:
    """A process's command line, or none when it ended since it was listed (a check process exiting)."""
    try:
        return proc.cmdline()
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
        return []


# A test in a copy of the repository takes trained models from the checkout's cache (same inputs, same
# key: the copy's folder is no input), as a second clone pointed at one results folder would; its run
# folder stays its own. Tests of training itself keep their own results folder.
SHARED_MODELS = {"ROLLOUT_RESULTS": str(ROOT / "results")}


def nox_env(run: Path, **extra: str) -> dict[str, str]:
    return {**os.environ, "ROLLOUT_RUN_DIR": str(run), **extra}


def validate(session: str, run: Path, **extra: str) -> subprocess.CompletedProcess:
    """Run one nox session to its end; no process of the run may survive it."""
    done = subprocess.run(
        [NOX, "-s", session], cwd=ROOT, env=nox_env(run, **extra), capture_output=True, text=True, timeout=1700
    )
    survivors = ours(run)
    assert not survivors, f"processes survived the session: {[p.cmdline() for p in survivors]}"
    return done


def only_cell(run: Path, label: str, usecase: str) -> CellResult:
    """The newest result of one cell in a run."""
    found = sorted(run.glob(f"{label}/{usecase}*/cell.json"), key=lambda p: p.stat().st_mtime)
    assert found, f"no cell.json under {run}"
    return CellResult.from_json(found[-1].read_text())


def stage(result: CellResult, name: str):
    return next(s for s in result.stages if s.stage == name)


# The interrupt tests need a server that is still up when they signal: with a kept model and a kept
# check a sklearn cell is over in 3 s (serve 2 s, 200 requests in 0.7 s). Their speed stage sends
# requests for up to a minute instead, so the signal lands while the server answers load.
HOLD_SERVER = {"ROLLOUT_SPEED_REQUESTS": "1000000", "ROLLOUT_SPEED_SECONDS": "60"}


def foreground_job() -> None:
    """preexec_fn of a session a test will Ctrl-C: it gets SIGINT as a terminal's foreground job does (a
    shell's background job, and everything it starts, CI's runner perhaps, has SIGINT ignored)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def tree_of(procs: list[psutil.Process]) -> set[int]:
    """The pids of processes and everything under them that is still there."""
    pids = set()
    for proc in procs:
        try:
            pids |= {proc.pid} | {c.pid for c in proc.children(recursive=True)}
        except (psutil.NoSuchProcess, psutil.ZombieProcess):
            continue
    return pids


def interrupt_while_serving(session: str, run: Path, log: Path, signum: int, settle: float = 3.0) -> tuple[int, set]:
    """Start a session, wait until its model server runs, signal nox; (exit code, server tree pids)."""
    with log.open("w") as out:
        nox = subprocess.Popen(
            [NOX, "-s", session], cwd=ROOT, env=nox_env(run, **HOLD_SERVER), stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True, preexec_fn=foreground_job,
        )  # fmt: skip
        deadline = time.monotonic() + 1200
        server = []
        while time.monotonic() < deadline and nox.poll() is None:
            server = [p for p in ours(run) if "serve" in " ".join(cmdline(p))]
            if server:
                break
            time.sleep(0.5)
        assert server, f"the server never started: {log.read_text()[-2000:]}"
        time.sleep(settle)  # let it spawn its workers (and JVM)
        tree = tree_of(server)
        assert nox.poll() is None and alive(tree), f"the session ended before the signal: {log.read_text()[-2000:]}"
        if signum == signal.SIGINT:  # Ctrl-C in a terminal signals the whole foreground process group
            os.killpg(nox.pid, signum)
        else:
            nox.send_signal(signum)
        nox.wait(timeout=180)
    return nox.returncode, tree


def alive(pids: set) -> list[psutil.Process]:
    found = []
    for pid in pids:
        try:
            proc = psutil.Process(pid)
            if proc.status() != psutil.STATUS_ZOMBIE:
                found.append(proc)
        except psutil.NoSuchProcess:
            continue
    return found


def copy_repo(target: Path) -> Path:
    """The repository's files as git sees them (committed or not, ignored ones left out)."""
    listed = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=ROOT, capture_output=True,
                            check=True).stdout.decode().split("\0")  # fmt: skip
    for name in filter(None, listed):
        source = ROOT / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    return target


def need_python(version: str) -> None:
    """Skip, with the install line, where the machine lacks the Python a test's project names."""
    import pytest

    from rolloutcheck.envs import interpreter

    found = interpreter.find(version)
    if found.missing:
        pytest.skip(f"{found.missing} (pyenv install {version}, or uv python install {version})")
