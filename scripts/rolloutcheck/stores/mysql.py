"""A MySQL database for one store check: a private MariaDB server in the cell folder, or a fresh database
on an existing server (ROLLOUT_MYSQL_URL), dropped again at the end. The same interface as postgres.py's
Database (url, env, dump, restore, stop), so the store stages do not care which database it is.

The private server is made with `mariadb-install-db` and run as `mariadbd` on 127.0.0.1 and a free port;
its Unix socket (for the admin client only) in a short folder of its own under /tmp (a cell folder's path is
too long for one). MariaDB refuses to run as root unless told to, so as root it runs as the `mysql` user
(Debian's package makes it). The server carries the cell's process marker, so the cell's cleanup (and
`nox -s cleanup` after a SIGKILL) stops it even when `mariadb-admin shutdown` could not run. MySQL's DDL
is not transactional: a failed `mlflow db upgrade` leaves a half-migrated schema, which `state()` reads.
"""

from __future__ import annotations

import getpass
import os
import pwd
import shutil
import subprocess
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from rolloutcheck.core.errors import Failure
from rolloutcheck.core.net import HOST, free_port
from rolloutcheck.core.procs import Launch, pid_file_tree, reap, run_logged
from rolloutcheck.core.secrets import redact

USER = "mlflow"  # the account mlflow connects as, allowed from 127.0.0.1 only, no password
SCHEME = "mysql+pymysql"  # SQLAlchemy's URL for PyMySQL, the driver envs/stores.yaml pins
INSTALL_HINT = "apt-get install mariadb-server"


class MysqlError(Failure):
    """The database could not be made, started, dumped or restored; one line, and the log."""


def _tool(name: str) -> str:
    found = shutil.which(name) or next((p for p in (f"/usr/sbin/{name}", f"/usr/bin/{name}") if Path(p).exists()),
                                       None)  # fmt: skip
    if not found:
        raise MysqlError(f"MariaDB is not installed (no {name}): `{INSTALL_HINT}`")
    return found


def client_tool() -> str:
    """MariaDB's command-line client (what reads a copy of production's MySQL store)."""
    return _tool("mariadb")


def require() -> None:
    """Every MariaDB program a private server needs is here (else MysqlError with the install line)."""
    for name in ("mariadb-install-db", "mariadbd", "mariadb", "mariadb-dump", "mariadb-admin"):
        _tool(name)


def _admin() -> str:
    """Who administers a private server over its socket: `mariadb-install-db --auth-root-authentication-method
    =socket` lets root and the installing user in by their Unix identity, no password."""
    return "root" if os.geteuid() == 0 else getpass.getuser()


def _server_user() -> list[str]:
    """`--user=mysql` as root (mariadbd refuses root otherwise); nothing for anyone else."""
    if os.geteuid() != 0:
        return []
    try:
        pwd.getpwnam("mysql")
    except KeyError:
        raise MysqlError("running as root and there is no `mysql` user to run MariaDB as") from None
    return ["--user=mysql"]


def _check(code: int, lines: list[str], what: str, log: Path) -> None:
    if code != 0:
        raise MysqlError(f"{what} failed (exit {code}): {lines[-1] if lines else 'no output'}", log)


@dataclass
class Database:
    url: str  # what mlflow connects to (mysql+pymysql://...); never with a password
    log: Path
    host: str
    port: int
    user: str
    name: str
    socket: Path | None = None  # the private server's admin socket; None: an existing server
    data: Path | None = None
    scratch: Path | None = None  # the folder under /tmp with the socket (and the data, as root in 0700 folders)
    drop: bool = True
    env: dict[str, str] = field(default_factory=dict)  # what every process that connects needs: nothing here
    siblings: list[str] = field(default_factory=list)  # databases made beside it (a fresh store), dropped by stop()

    @property
    def data_folder(self) -> Path | None:
        return self.data

    def _client(self, name: str, *args: str) -> list[str]:
        where = [f"--socket={self.socket}", f"--user={_admin()}"] if self.socket else [
            f"--host={self.host}", f"--port={self.port}", f"--user={self.user}"]  # fmt: skip
        return [_tool(name), "--no-defaults", *where, *args]

    def _run(self, command: list[str]) -> tuple[int, list[str]]:
        return run_logged(command, self.log, {**os.environ, **self.env})

    def sql(self, statement: str, database: str = "") -> list[str]:
        code, lines = self._run(self._client("mariadb", "--batch", "--skip-column-names", "-e", statement,
                                             *([database] if database else [])))  # fmt: skip
        _check(code, lines, statement.split()[0], self.log)
        return lines

    def dump(self, target: Path) -> Path:
        """Every table of the database, its rows and the Alembic revision, as SQL (`mariadb-dump`)."""
        code, lines = self._run(self._client("mariadb-dump", "--single-transaction", "--routines",
                                             f"--result-file={target}", self.name))  # fmt: skip
        _check(code, lines, "mariadb-dump", self.log)
        return target

    def _empty(self, name: str) -> None:
        self.sql(f"DROP DATABASE IF EXISTS `{name}`; CREATE DATABASE `{name}` CHARACTER SET utf8mb4")

    def sibling(self, name: str) -> str:
        """A new empty database on the same server (dropped by stop()); its URL."""
        self._empty(name)
        self.siblings.append(name)
        return _url(self.host, self.port, self.user, name)

    def recreate(self) -> None:
        self._empty(self.name)

    def restore(self, dump: Path) -> None:
        """The database as it was when `dump` was taken: a fresh database, then the dump read into it."""
        self.recreate()
        self.sql(f"SOURCE {dump}", self.name)

    def stop(self) -> None:
        if self.socket is None:
            for name in [*self.siblings, *([self.name] if self.drop else [])]:
                self._run(self._client("mariadb", "-e", f"DROP DATABASE IF EXISTS `{name}`"))
            return
        tree = pid_file_tree(self.data / "server.pid") if self.data else []
        if tree:
            self._run(self._client("mariadb-admin", "shutdown"))
            reap(tree)
        if self.scratch is not None:
            shutil.rmtree(self.scratch, ignore_errors=True)


def shown(url: str) -> str:
    return redact(url, ())


def url_parts(url: str) -> tuple[str, int, str, str]:
    """(host, port, user, database) of a mysql:// URL."""
    parts = urlsplit(url)
    return parts.hostname or HOST, parts.port or 3306, parts.username or "root", parts.path.lstrip("/")


def _url(host: str, port: int, user: str, name: str) -> str:
    return urlunsplit((SCHEME, f"{user}@{host}:{port}", f"/{name}", "", ""))


def existing(server_url: str, log: Path) -> Database:
    """A fresh database on the server `server_url` points to (dropped by stop()). The URL carries no
    password (settings.py refuses one): PyMySQL reads none from the environment, so a password could only
    reach mlflow written into its URL; the team's account must be let in from this machine without one."""
    host, port, user, _ = url_parts(server_url)
    name = f"rolloutcheck_{uuid.uuid4().hex[:12]}"
    database = Database(_url(host, port, user, name), log, host, port, user, name)
    database.recreate()
    return database


def given(url: str, log: Path) -> Database:
    """A database a team gave (a copy of production's, ROLLOUT_STORE_COPY): used in place, restored from its
    dump, never dropped. No password, as for ROLLOUT_MYSQL_URL (settings.py refuses one)."""
    host, port, user, name = url_parts(url)
    if not name:
        raise MysqlError(f"{shown(url)} names no database")
    return Database(_url(host, port, user, name), log, host, port, user, name, drop=False)


def private(folder: Path, launch: Launch, timeout: float = 60.0) -> Database:
    """A new MariaDB server: data in `folder` (the socket beside it in /tmp), started, holding database
    `mlflow` and the account mlflow connects as."""
    install, server = _tool("mariadb-install-db"), _tool("mariadbd")
    user = _server_user()
    folder.mkdir(parents=True)
    scratch = Path(tempfile.mkdtemp(prefix="rolloutcheck-my-"))
    data = folder / "data"
    if user:
        for path in (folder, scratch):
            shutil.chown(path, "mysql")
        if subprocess.run(["runuser", "-u", "mysql", "--", "test", "-w", str(folder)]).returncode != 0:
            # a parent the mysql user cannot enter (pytest's 0700 temp folders): the data beside the socket
            (folder / "WHERE").write_text(f"{scratch}\n(the data is there: the mysql user cannot enter {folder})\n")
            data = scratch / "data"
    log = launch.log
    code, lines = run_logged([install, "--no-defaults", f"--datadir={data}", *user, "--skip-test-db",
                              "--auth-root-authentication-method=socket", "--skip-name-resolve"], log)  # fmt: skip
    _check(code, lines, "mariadb-install-db", log)
    port, socket = free_port(), scratch / "s"
    command = [server, "--no-defaults", f"--datadir={data}", *user, f"--port={port}", f"--bind-address={HOST}",
               f"--socket={socket}", f"--pid-file={data / 'server.pid'}", f"--log-error={folder / 'server.log'}",
               "--skip-name-resolve", "--innodb-flush-log-at-trx-commit=0", "--skip-log-bin"]  # fmt: skip
    proc = launch.start(command)
    database = Database(_url(HOST, port, USER, "mlflow"), log, HOST, port, USER, "mlflow", socket=socket,
                        data=data, scratch=scratch)  # fmt: skip
    deadline = time.monotonic() + timeout
    while not socket.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            server_log = folder / "server.log"
            lines = server_log.read_text(errors="replace").splitlines() if server_log.exists() else []
            errors = [line for line in lines if "[ERROR]" in line]
            reason = (errors or lines or ["see the log"])[0]
            database.stop()
            raise MysqlError(f"MariaDB did not start on port {port}: {reason}", server_log if lines else log)
        time.sleep(0.2)
    database.sql(f"CREATE USER IF NOT EXISTS '{USER}'@'{HOST}'; GRANT ALL ON *.* TO '{USER}'@'{HOST}'")
    database.recreate()
    return database
