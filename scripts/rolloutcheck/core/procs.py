"""Starting and stopping process trees so that nothing a cell starts outlives it.

Every process is started in a session of its own (Ctrl-C reaches us, not it, so we decide the
order of shutdown) with three variables in its environment: the cell's marker, the role of the
process in the cell (a server attempt, the tracking check, ...) and its owner (the pid and start
time of the process running the cell). Stopping takes the whole tree as it is *before* anything
is killed, plus every process still carrying the marker (and role): a JVM that h2o's server
starts in a separate session, or a worker re-parented to init, is found either way. The process
the cell started (mlflow's CLI) is signalled after the rest of its tree. A process
whose owner is gone (the run was SIGKILLed) is a leftover that `stop_leftovers()` ends.
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from rolloutcheck.core.secrets import known, redact, redact_env

MARKER = "ROLLOUT_PROCESS_MARK"
ROLE = "ROLLOUT_PROCESS_ROLE"
OWNER = "ROLLOUT_PROCESS_OWNER"  # "<pid>:<create time>" of the process that runs the cell
INTERRUPTS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
COMMANDS_FILE = "commands.jsonl"  # every process a cell started, beside its logs: repro.sh is made from it


def new_marker() -> str:
    return uuid.uuid4().hex


def owner() -> tuple[int, float]:
    """This process as an owner of cells: its pid and start time (a reused pid is another process)."""
    proc = psutil.Process(os.getpid())
    return proc.pid, proc.create_time()


def owner_id() -> str:
    pid, created = owner()
    return f"{pid}:{created}"


def running(pid: int, created: float) -> bool:
    """Whether the owner (pid, start time) still runs."""
    try:
        return psutil.Process(pid).create_time() == created
    except psutil.Error:
        return False


def start(
    command: Sequence[str], log: Path, env: dict[str, str], cwd: Path, marker: str, role: str = "cell"
) -> subprocess.Popen:
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        out.write(f"$ {redact(shlex.join(command))}\n".encode())
        out.flush()
        return subprocess.Popen(
            list(command),
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=cwd,
            env={**env, MARKER: marker, ROLE: role, OWNER: owner_id()},
            start_new_session=True,
        )


def record_launch(record: Path, command: Sequence[str], env: Mapping[str, str], cwd: Path, role: str) -> None:
    """Append what is about to run (command, folder, the variables it gets beyond ours) to `record`."""
    changed = {k: v for k, v in env.items() if os.environ.get(k) != v and not k.startswith("ROLLOUT_")}
    # repro.sh and CI artifacts are made from this record: never a credential the cell was given
    entry = {"role": role, "command": [redact(word) for word in command], "cwd": str(cwd), "env": redact_env(changed)}
    record.parent.mkdir(parents=True, exist_ok=True)
    with record.open("a") as out:
        out.write(json.dumps(entry) + "\n")


def output_since(log: Path, offset: int) -> str:
    """What was written to `log` after byte `offset` (logs are appended to across attempts)."""
    with log.open("rb") as handle:
        handle.seek(offset)
        return handle.read().decode(errors="replace")


def run_logged(command: Sequence[str], log: Path, env: Mapping[str, str] | None = None) -> tuple[int, list[str]]:
    """Run `command` to completion (with `env`, default ours), appending it and its output to `log`.
    Returns the exit code and the non-empty lines this run wrote (not earlier runs'), redacted."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        out.write(f"$ {redact(shlex.join(command))}\n".encode())
        out.flush()
        offset = out.tell()
        code = subprocess.run(
            list(command), stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            env=None if env is None else dict(env),
        ).returncode  # fmt: skip
    secrets = known() | known(env or {})
    return code, [redact(line.strip(), secrets) for line in output_since(log, offset).splitlines() if line.strip()]


def _environ(proc: psutil.Process) -> dict[str, str]:
    try:
        return proc.environ()
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
        return {}


def marked(marker: str, role: str | None = None) -> list[psutil.Process]:
    """Live processes whose environment carries `marker` (and `role`, when given)."""
    found = []
    for proc in psutil.process_iter():
        if proc.pid == os.getpid():
            continue
        env = _environ(proc)
        if env.get(MARKER) == marker and (role is None or env.get(ROLE) == role):
            found.append(proc)
    return found


WAVE_SECONDS = 0.5  # how long the processes under the one the cell started have to end before it is signalled


def _signal(procs: list[psutil.Process], sig: int) -> None:
    for victim in procs:
        try:
            victim.send_signal(sig)
        except psutil.NoSuchProcess:
            pass


def _terminate(victims: dict[int, psutil.Process], grace: float, started: int | None = None) -> None:
    """SIGTERM to every victim but the process the cell `started`, which gets it once they ended (or
    after WAVE_SECONDS): mlflow's CLI reads its server's output, and a gunicorn master whose CLI died
    first takes 2 s to stop instead of 0.25 s. What is alive at `grace` is killed."""
    first = [p for p in victims.values() if p.pid != started]
    _signal(first, signal.SIGTERM)
    if started in victims:
        psutil.wait_procs(first, timeout=min(WAVE_SECONDS, grace))
        _signal([victims[started]], signal.SIGTERM)
    _, alive = psutil.wait_procs(list(victims.values()), timeout=grace)
    _signal(alive, signal.SIGKILL)
    psutil.wait_procs(alive, timeout=grace)


def stop(proc: subprocess.Popen | None, marker: str, role: str | None = None, grace: float = 5.0) -> int:
    """Terminate `proc`, its descendants and every process marked `marker` (and `role`); how many."""
    roots = marked(marker, role)
    if proc is not None:
        try:
            roots.append(psutil.Process(proc.pid))
        except psutil.NoSuchProcess:
            pass
    victims: dict[int, psutil.Process] = {}
    for root in roots:  # with their trees: PostgreSQL's workers overwrite their environment (process titles)
        victims[root.pid] = root
        try:
            victims.update({c.pid: c for c in root.children(recursive=True)})
        except psutil.NoSuchProcess:
            pass
    _terminate(victims, grace, proc.pid if proc is not None else None)
    if proc is not None:
        try:
            proc.wait(timeout=grace)  # reap our own child
        except subprocess.TimeoutExpired:
            pass
    leftovers = marked(marker, role)  # started while we were stopping
    if leftovers:
        _terminate({p.pid: p for p in leftovers}, grace)
    return len(victims)


def _owner_alive(owner_text: str) -> bool:
    pid, _, created = owner_text.partition(":")
    try:
        return running(int(pid), float(created))
    except ValueError:
        return False


def leftovers() -> list[psutil.Process]:
    """Processes started by cells whose owner is gone (a run killed with SIGKILL, a lost machine)."""
    found = []
    for proc in psutil.process_iter():
        env = _environ(proc)
        if env.get(MARKER) and env.get(OWNER) and not _owner_alive(env[OWNER]):
            found.append(proc)
    return found


def stop_leftovers() -> list[str]:
    """Stop every leftover process tree; one line per process stopped."""
    victims = {}
    for proc in leftovers():
        try:
            victims[proc.pid] = proc
            victims.update({c.pid: c for c in proc.children(recursive=True)})
        except psutil.NoSuchProcess:
            continue
    lines = []
    for proc in victims.values():
        try:
            lines.append(f"pid {proc.pid}: {shlex.join(proc.cmdline())[:160]}")
        except psutil.Error:
            lines.append(f"pid {proc.pid}")
    _terminate(victims, grace=5.0)
    return lines


@contextmanager
def interrupts_as_keyboard_interrupt() -> Iterator[None]:
    """SIGTERM and SIGHUP (a dropped terminal) act like Ctrl-C for the duration, so cleanup runs."""

    def handler(signum, frame):
        raise KeyboardInterrupt(f"signal {signal.Signals(signum).name}")

    try:
        previous = {signum: signal.signal(signum, handler) for signum in (signal.SIGTERM, signal.SIGHUP)}
    except ValueError:  # not the main thread
        yield
        return
    try:
        yield
    finally:
        for signum, old in previous.items():
            signal.signal(signum, old)


@contextmanager
def interrupts_deferred() -> Iterator[list[int]]:
    """Hold off Ctrl-C, SIGTERM and SIGHUP (e.g. a second Ctrl-C during cleanup); yields what arrived.
    The caller re-raises afterwards if it wants to."""
    arrived: list[int] = []
    try:
        previous = {signum: signal.signal(signum, lambda s, f: arrived.append(s)) for signum in INTERRUPTS}
    except ValueError:  # not the main thread
        yield arrived
        return
    try:
        yield arrived
    finally:
        for signum, old in previous.items():
            signal.signal(signum, old)


@dataclass(frozen=True)
class Launch:
    """How a cell starts a process: its environment, folder, log, the cell's marker and its role."""

    env: Mapping[str, str]
    cwd: Path
    log: Path
    marker: str
    role: str = "cell"

    def record(self, command: Sequence[str]) -> None:
        """Write `command` into the cell's record without running it (repro.sh replays it)."""
        record_launch(self.log.with_name(COMMANDS_FILE), command, self.env, self.cwd, self.role)

    def start(self, command: Sequence[str]) -> subprocess.Popen:
        self.record(command)
        return start(command, self.log, dict(self.env), self.cwd, self.marker, self.role)

    def stop(self, proc: subprocess.Popen | None) -> int:
        """Stop `proc`'s tree and every process of this role (other roles of the cell are left alone)."""
        return stop(proc, self.marker, self.role)


def busy_cores(pids: Sequence[int] | None = None, sample: float = 0.5) -> float:
    """How many cores the process trees of `pids` (None: the whole machine) used over `sample` seconds."""
    if pids is None:
        before = psutil.cpu_times()
        time.sleep(sample)
        after = psutil.cpu_times()
        return sum(getattr(after, f) - getattr(before, f) for f in ("user", "system", "nice")) / sample
    tree = []
    for pid in pids:
        try:
            root = psutil.Process(pid)
            tree += [root, *root.children(recursive=True)]
        except psutil.Error:
            continue
    used = {}
    for proc in tree:
        try:
            used[proc] = -sum(proc.cpu_times()[:2])
        except psutil.Error:
            pass
    time.sleep(sample)
    for proc in used:
        try:
            used[proc] += sum(proc.cpu_times()[:2])
        except psutil.Error:
            used[proc] = 0.0
    return sum(used.values()) / sample


def settle(max_wait: float, pids: Sequence[int] | None = None, idle: float = 0.25) -> tuple[float, bool]:
    """Wait until the machine (or the trees of `pids`) uses under `idle` cores, at most `max_wait` seconds:
    (the wait, whether it got idle). Measured: a 3.x model server answers /ping while its workers still
    import, and another cell's nox starting between its stages holds a core for seconds; either made the
    first speed repeats of a server several times slower."""
    started = time.monotonic()
    while time.monotonic() - started < max_wait:
        if busy_cores(pids) < idle:
            return time.monotonic() - started, True
    return time.monotonic() - started, max_wait <= 0


@dataclass
class OthersCpu:
    """What the machine's other processes (not carrying `marker`, not this one) used while it was held:
    `cores` on average, and the busiest few by command line. Said beside a speed comparison's figures."""

    marker: str
    cores: float = 0.0
    busiest: list[str] = field(default_factory=list)

    def _times(self) -> dict[tuple[int, float], tuple[float, str]]:
        found = {}
        for proc in psutil.process_iter():
            try:
                if proc.pid == os.getpid() or _environ(proc).get(MARKER) == self.marker:
                    continue
                with proc.oneshot():
                    found[(proc.pid, proc.create_time())] = (sum(proc.cpu_times()[:2]), " ".join(proc.cmdline()[:3]))
            except psutil.Error:
                continue
        return found

    def __enter__(self) -> OthersCpu:
        self._before, self._started = self._times(), time.monotonic()
        return self

    def __exit__(self, *_) -> None:
        elapsed = max(time.monotonic() - self._started, 1e-3)
        used = []
        for key, (seconds, command) in self._times().items():
            used.append((seconds - self._before.get(key, (0.0, ""))[0], command))  # new ones: all they used
        self.cores = sum(u for u, _ in used) / elapsed
        self.busiest = [f"{command[:80]} ({u / elapsed:.2f} cores)" for u, command in sorted(used, reverse=True)[:3]
                        if u / elapsed >= 0.05]  # fmt: skip


def pid_file_tree(pid_file: Path) -> list[psutil.Process]:
    """The server a pid file names (a database server's) and every process under it; [] when gone."""
    try:
        server = psutil.Process(int(pid_file.read_text().split()[0]))
        return [server, *server.children(recursive=True)]
    except (OSError, ValueError, IndexError, psutil.Error):
        return []


def reap(tree: list[psutil.Process], timeout: float = 10.0) -> None:
    """Wait until every process of `tree` has exited, killing what is left after `timeout`: a server's
    stop command may return while its workers are still exiting, and none may outlive the cell."""
    _, alive = psutil.wait_procs(tree, timeout=timeout)
    for proc in alive:
        try:
            proc.kill()
        except psutil.Error:
            pass
    psutil.wait_procs(alive, timeout=5)
