"""A PostgreSQL database for one store check: a private cluster in the cell folder, or a fresh database
on an existing server (ROLLOUT_POSTGRES_URL), dropped again at the end.

The private cluster is made with `initdb` and run with `pg_ctl` on 127.0.0.1 and a free port, its
socket in the cell folder. PostgreSQL refuses to run as root, so as root both run as the `postgres`
user (Debian's package makes it). The server carries the cell's process marker, so the cell's cleanup
(and `nox -s cleanup` after a SIGKILL) stops it even when `pg_ctl stop` could not run.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from rolloutcheck.core.errors import Failure
from rolloutcheck.core.net import HOST, free_port
from rolloutcheck.core.procs import Launch, pid_file_tree, reap, run_logged
from rolloutcheck.core.secrets import PASSWORD_VAR, redact, split_password

USER = "mlflow"  # the cluster's superuser, trusted on 127.0.0.1 only
INSTALL_HINT = "apt-get install postgresql"


class PostgresError(Failure):
    """The database could not be made, started, dumped or restored; one line, and the log."""


def bindir() -> Path:
    """Where initdb, pg_ctl, pg_dump and pg_restore are (Debian keeps them per major version)."""
    found = shutil.which("pg_ctl")
    if found:
        return Path(found).resolve().parent
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), key=lambda p: int(p.split("/")[4]))
    if not versions:
        raise PostgresError(f"PostgreSQL is not installed (no pg_ctl): `{INSTALL_HINT}`")
    return Path(versions[-1]).parent


def as_server_user(command: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return command
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        raise PostgresError("running as root and there is no `postgres` user to run PostgreSQL as") from None
    return [shutil.which("runuser") or "/usr/sbin/runuser", "-u", "postgres", "--", *command]


def _check(code: int, lines: list[str], what: str, log: Path) -> None:
    if code != 0:
        raise PostgresError(f"{what} failed (exit {code}): {lines[-1] if lines else 'no output'}", log)


@dataclass
class Database:
    url: str  # what mlflow connects to; never with a password (that is in `env`)
    admin_url: str  # the server's `postgres` database, to drop and create `url`'s database
    log: Path
    cluster: Path | None = None  # the private cluster's data folder; None: an existing server
    name: str = ""
    drop: bool = True  # made for the check (dropped at the end); False for a copy a team gave us
    env: dict[str, str] = field(default_factory=dict)  # PGPASSWORD, for every process that connects
    siblings: list[str] = field(default_factory=list)  # databases made beside it (a fresh store), dropped by stop()

    @property
    def data_folder(self) -> Path | None:
        return self.cluster

    def _tool(self, name: str) -> str:
        return str(bindir() / name)

    def _run(self, command: list[str]) -> tuple[int, list[str]]:
        return run_logged(command, self.log, {**os.environ, **self.env})

    def dump(self, target: Path) -> Path:
        code, lines = self._run([self._tool("pg_dump"), "--format=custom", f"--file={target}", self.url])
        _check(code, lines, "pg_dump", self.log)
        return target

    def sibling(self, name: str) -> str:
        """A new empty database on the same server (dropped by stop()); its URL."""
        for sql in (f'DROP DATABASE IF EXISTS "{name}"', f'CREATE DATABASE "{name}"'):
            code, lines = self._run([self._tool("psql"), "-v", "ON_ERROR_STOP=1", "-c", sql, self.admin_url])
            _check(code, lines, sql, self.log)
        self.siblings.append(name)
        return _with_database(self.url, name)

    def recreate(self) -> None:
        for sql in (f'DROP DATABASE IF EXISTS "{self.name}"', f'CREATE DATABASE "{self.name}"'):
            code, lines = self._run([self._tool("psql"), "-v", "ON_ERROR_STOP=1", "-c", sql, self.admin_url])
            _check(code, lines, sql, self.log)

    def restore(self, dump: Path) -> None:
        """The database as it was when `dump` was taken (a fresh database, then pg_restore)."""
        self.recreate()
        code, lines = self._run(
            [self._tool("pg_restore"), "--no-owner", "--exit-on-error", f"--dbname={self.url}", str(dump)]
        )
        _check(code, lines, "pg_restore", self.log)

    def stop(self) -> None:
        if self.cluster is None:
            for name in [*self.siblings, *([self.name] if self.drop else [])]:
                self._run([self._tool("psql"), "-c", f'DROP DATABASE IF EXISTS "{name}"', self.admin_url])
            return
        if (self.cluster / "postmaster.pid").exists():
            tree = pid_file_tree(self.cluster / "postmaster.pid")
            command = as_server_user([self._tool("pg_ctl"), "-D", str(self.cluster), "stop", "-m", "fast", "-w"])
            run_logged(command, self.log)
            reap(tree)  # pg_ctl returns once the pid file is gone; its backends may still be exiting
        if self.cluster.parent.name.startswith("rolloutcheck-pg-"):  # a scratch folder outside the cell
            shutil.rmtree(self.cluster.parent, ignore_errors=True)


def shown(url: str) -> str:
    """A database URL for reports: its password replaced by `***` (a team's server may need one)."""
    return redact(url, ())


def _password_env(url: str) -> tuple[str, dict[str, str]]:
    """`url` without its password, and the environment that gives libpq the password instead."""
    bare, password = split_password(url)
    return bare, ({PASSWORD_VAR: password} if password else {})


def _with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


def existing(admin_url: str, log: Path) -> Database:
    """A fresh database on the server `admin_url` points to (dropped by stop())."""
    name = f"rolloutcheck_{uuid.uuid4().hex[:12]}"
    admin, env = _password_env(admin_url)
    database = Database(_with_database(admin, name), admin, log, None, name, env=env)
    database.recreate()
    return database


def given(url: str, log: Path) -> Database:
    """A database a team gave (a copy of production's): used in place, restored from its dump, never dropped."""
    name = urlsplit(url).path.lstrip("/")
    if not name:
        raise PostgresError(f"{shown(url)} names no database")
    bare, env = _password_env(url)
    return Database(bare, _with_database(bare, "postgres"), log, None, name, drop=False, env=env)


def private(folder: Path, launch: Launch, timeout: float = 60.0) -> Database:
    """A new cluster in `folder` (data/, server.log), started and holding database `mlflow`."""
    tools = bindir()
    folder.mkdir(parents=True)
    if os.geteuid() == 0:
        shutil.chown(folder, "postgres")
        if subprocess.run(as_server_user(["test", "-w", str(folder)])).returncode != 0:
            # a parent the postgres user cannot enter (pytest's 0700 temp folders): a folder of its own in /tmp
            scratch = Path(tempfile.mkdtemp(prefix="rolloutcheck-pg-"))
            shutil.chown(scratch, "postgres")
            why = f"(the cluster is there: the postgres user cannot enter {folder})"
            (folder / "WHERE").write_text(f"{scratch}\n{why}\n")
            folder = scratch
    data = folder / "data"
    log = launch.log
    command = [str(tools / "initdb"), "-D", str(data), "-U", USER, "--auth=trust", "-E", "UTF8", "--no-sync"]
    code, lines = run_logged(as_server_user(command), log)
    _check(code, lines, "initdb", log)
    port = free_port()
    # TCP on 127.0.0.1 only: no Unix socket (a cell folder's path is too long for one, 107 bytes at most)
    options = f"-h {HOST} -p {port} -k '' -c fsync=off"
    start = [str(tools / "pg_ctl"), "-D", str(data), "-l", str(folder / "server.log"), "-o", options, "-w",
             "-t", str(int(timeout)), "start"]  # fmt: skip
    proc = launch.start(as_server_user(start))
    try:
        code = proc.wait(timeout + 10)
    except subprocess.TimeoutExpired:
        code = -1
    if code != 0:
        server_log = folder / "server.log"
        lines = server_log.read_text(errors="replace").splitlines() if server_log.exists() else []
        fatal = [line.split("FATAL:", 1)[1].strip() for line in lines if "FATAL:" in line]
        reason = fatal[0] if fatal else (lines[-1] if lines else "see the log")
        raise PostgresError(f"PostgreSQL did not start on port {port}: {reason}", server_log if lines else log)
    admin = f"postgresql://{USER}@{HOST}:{port}/postgres"
    database = Database(_with_database(admin, "mlflow"), admin, log, data, "mlflow")
    database.recreate()
    return database
