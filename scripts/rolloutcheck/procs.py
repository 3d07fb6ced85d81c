"""Starting and stopping process trees so that nothing a cell starts outlives it.

Every process is started in a session of its own (Ctrl-C reaches us, not it, so we decide the
order of shutdown) and with a marker variable in its environment. Stopping takes the whole tree
as it is *before* anything is killed, plus every process still carrying the marker: a JVM that
h2o's server starts in a separate session, or a worker re-parented to init, is found either way.
"""

from __future__ import annotations

import os
import signal
import subprocess
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import psutil

MARKER = "ROLLOUT_PROCESS_MARK"


def new_marker() -> str:
    return uuid.uuid4().hex


def start(command: Sequence[str], log: Path, env: dict[str, str], cwd: Path, marker: str) -> subprocess.Popen:
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        out.write(f"$ {' '.join(command)}\n".encode())
        out.flush()
        return subprocess.Popen(
            list(command),
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=cwd,
            env={**env, MARKER: marker},
            start_new_session=True,
        )


def output_since(log: Path, offset: int) -> str:
    """What was written to `log` after byte `offset` (logs are appended to across attempts)."""
    with log.open("rb") as handle:
        handle.seek(offset)
        return handle.read().decode(errors="replace")


def run_logged(command: Sequence[str], log: Path) -> tuple[int, list[str]]:
    """Run `command` to completion, appending it and its output to `log`.
    Returns the exit code and the non-empty lines this run wrote (not earlier runs')."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        out.write(f"$ {' '.join(command)}\n".encode())
        out.flush()
        offset = out.tell()
        code = subprocess.run(list(command), stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL).returncode
    return code, [line.strip() for line in output_since(log, offset).splitlines() if line.strip()]


def marked(marker: str) -> list[psutil.Process]:
    """Live processes whose environment carries `marker`."""
    found = []
    for proc in psutil.process_iter():
        try:
            if proc.pid != os.getpid() and proc.environ().get(MARKER) == marker:
                found.append(proc)
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
    return found


def stop(proc: subprocess.Popen | None, marker: str, grace: float = 5.0) -> int:
    """Terminate `proc`, its descendants and every process marked `marker`; returns how many."""
    victims: dict[int, psutil.Process] = {p.pid: p for p in marked(marker)}
    if proc is not None:
        try:
            root = psutil.Process(proc.pid)
            victims[root.pid] = root
            victims.update({c.pid: c for c in root.children(recursive=True)})
        except psutil.NoSuchProcess:
            pass
    for victim in victims.values():
        try:
            victim.send_signal(signal.SIGTERM)
        except psutil.NoSuchProcess:
            pass
    _, alive = psutil.wait_procs(list(victims.values()), timeout=grace)
    for victim in alive:
        try:
            victim.kill()
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(alive, timeout=grace)
    if proc is not None:
        try:
            proc.wait(timeout=grace)  # reap our own child
        except subprocess.TimeoutExpired:
            pass
    leftovers = marked(marker)  # started while we were stopping
    if leftovers:
        for victim in leftovers:
            victim.kill()
        psutil.wait_procs(leftovers, timeout=grace)
    return len(victims)


@contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """Treat SIGTERM like Ctrl-C for the duration, so `finally` blocks clean up."""

    def handler(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")

    try:
        previous = signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
