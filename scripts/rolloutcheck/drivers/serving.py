"""Serving a run's model with the label's own `mlflow models serve` on a free local port."""

from __future__ import annotations

import dataclasses
import socket
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import psutil
import requests

from rolloutcheck.core import procs
from rolloutcheck.core.errors import Failure
from rolloutcheck.core.net import HOST, free_port
from rolloutcheck.core.procs import Launch
from rolloutcheck.core.steplog import last_error_line
from rolloutcheck.probes import localhttp

POLL_SECONDS = 0.1  # a refused connection costs microseconds; a server's start is waited for to the tenth


class ServeError(Failure, RuntimeError):
    pass


class PortTaken(ServeError):
    pass


def port_in_use(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex((HOST, port)) == 0


def serve_command(venv: Path, model_uri: str, env_flags: Sequence[str], workers: int = 1) -> Callable[[int], list[str]]:
    """`mlflow models serve` of `venv`'s mlflow; `env_flags` say which environment serves the model
    (`Traits.local_env_flags` for the current one, `--env-manager uv` to rebuild the model's own);
    `workers`: the server's processes (one, as measured; more is the speed remedy)."""

    def command(port: int) -> list[str]:
        return [
            str(venv / "bin" / "mlflow"), "models", "serve", "-m", model_uri,
            "-h", HOST, "-p", str(port), "-w", str(workers), *env_flags,
        ]  # fmt: skip

    return command


def with_workers(command: Callable[[int], list[str]], workers: int) -> Callable[[int], list[str]]:
    """The same serve command with another `-w` (the speed remedy: more server processes)."""

    def changed(port: int) -> list[str]:
        argv = command(port)
        at = argv.index("-w")
        return [*argv[:at], "-w", str(workers), *argv[at + 2 :]]

    return changed


class Server:
    """A running model server; `stop()` ends its whole process tree and nothing else of the cell."""

    def __init__(
        self, command: Callable[[int], list[str]], launch: Launch, port: int | None = None, health: str = "/ping"
    ):
        self.health = health  # a path that answers 200 once the server serves (a tracking server has no /ping)
        self.port = port or free_port()
        if port_in_use(self.port):
            raise PortTaken(f"port {self.port} is taken by another process")
        self.launch, self.command = launch, command  # the command: a remedy restarts it with another option
        self.log = launch.log
        self.log_start = self.log.stat().st_size if self.log.exists() else 0  # a retry appends to the same log
        self.proc = launch.start(command(self.port))

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def wait_healthy(self, timeout: float) -> float:
        """Seconds until GET <health> answered 200; ServeError if it exits or never answers."""
        started = time.monotonic()
        client = localhttp.session()
        while time.monotonic() - started < timeout:
            code = self.proc.poll()
            if code is not None:
                text = procs.output_since(self.log, self.log_start)
                if "Address already in use" in text or "Errno 98" in text:
                    raise PortTaken(f"port {self.port} was taken before the server bound it")
                raise ServeError(f"server exited with code {code}: {last_error_line(text)}")
            try:
                healthy = (
                    localhttp.request("GET", f"{self.url}{self.health}", client=client, timeout=2).status_code == 200
                )
            except requests.RequestException:
                healthy = False
            if healthy:
                if not self.listening():  # another process won the race for the port (make -j2)
                    raise PortTaken(f"port {self.port} answered, but not from this cell's server")
                return time.monotonic() - started
            time.sleep(POLL_SECONDS)
        raise ServeError(f"server never healthy: no 200 from {self.health} within {timeout:.0f}s")

    def listening(self) -> bool:
        """Whether one of this server's processes is the one listening on its port."""
        for proc in procs.marked(self.launch.marker, self.launch.role):
            try:
                if any(c.laddr and c.laddr.port == self.port and c.status == psutil.CONN_LISTEN
                       for c in proc.net_connections(kind="tcp")):  # fmt: skip
                    return True
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                continue
        return False

    def workers(self, settle: float = 10.0) -> int:
        """How many processes serve requests: those of this server holding its listening socket, less the
        master that only forks them (gunicorn's, uvicorn's with --workers); one alone serves by itself. Read
        until it holds still (workers boot after the first answers)."""
        counts: list[int] = []
        deadline = time.monotonic() + settle
        while time.monotonic() < deadline:
            holders = 0
            for proc in procs.marked(self.launch.marker, self.launch.role):
                try:
                    if any(c.laddr and c.laddr.port == self.port and c.status == psutil.CONN_LISTEN
                           for c in proc.net_connections(kind="tcp")):  # fmt: skip
                        holders += 1
                except (psutil.NoSuchProcess, psutil.AccessDenied):
                    continue
            counts.append(holders - 1 if holders > 1 else holders)
            if len(counts) >= 4 and len(set(counts[-4:])) == 1:  # the same for a second
                break
            time.sleep(0.25)
        return counts[-1] if counts else 0

    def stop(self) -> None:
        self.launch.stop(self.proc)


def start_healthy(
    command: Callable[[int], list[str]], launch: Launch, timeout: float, port: int | None = None, health: str = "/ping"
) -> Server:
    """Start a server and wait until healthy; one retry on a fresh port if the port was taken.
    Each attempt has a role of its own, so stopping a failed attempt touches nothing else."""
    for attempt in (1, 2):
        server = None
        try:
            server = Server(command, dataclasses.replace(launch, role=f"{launch.role}-{attempt}"), port, health)
            server.wait_healthy(timeout)
            return server
        except PortTaken:
            if server is not None:
                server.stop()
            if attempt == 2 or port is not None:
                raise
        except BaseException:
            if server is not None:
                server.stop()
            raise
    raise AssertionError("unreachable")
