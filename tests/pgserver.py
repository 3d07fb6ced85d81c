"""A PostgreSQL server that demands a password (scram-sha-256), as a team's real server does; for tests."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from rolloutcheck.core.net import HOST, free_port
from rolloutcheck.stores import postgres as pgcluster


def _run(command: list[str], **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(command, capture_output=True, text=True, env={**os.environ, **env}, timeout=120)


@contextmanager
def password_server(password: str) -> Iterator[str]:
    """A cluster whose every connection needs `password`; yields its admin URL (with the password)."""
    tools = pgcluster.bindir()
    folder = Path(tempfile.mkdtemp(prefix="rolloutcheck-pgpw-"))  # outside pytest's 0700 folders
    pwfile = folder / "pw"
    pwfile.write_text(password + "\n")
    if os.geteuid() == 0:
        shutil.chown(folder, "postgres")
        shutil.chown(pwfile, "postgres")
    data, port = folder / "data", free_port()
    initdb = [str(tools / "initdb"), "-D", str(data), "-U", "postgres", "--auth=scram-sha-256",
              f"--pwfile={pwfile}", "-E", "UTF8", "--no-sync"]  # fmt: skip
    done = _run(pgcluster.as_server_user(initdb))
    assert done.returncode == 0, done.stdout + done.stderr
    pwfile.unlink()
    options = f"-h {HOST} -p {port} -k '' -c fsync=off"
    start = [str(tools / "pg_ctl"), "-D", str(data), "-l", str(folder / "server.log"), "-o", options, "-w", "start"]
    done = _run(pgcluster.as_server_user(start))
    assert done.returncode == 0, done.stdout + done.stderr + (folder / "server.log").read_text()
    try:
        yield f"postgresql://postgres:{password}@{HOST}:{port}/postgres"
    finally:
        _run(pgcluster.as_server_user([str(tools / "pg_ctl"), "-D", str(data), "stop", "-m", "fast", "-w"]))
        shutil.rmtree(folder, ignore_errors=True)


def psql(url: str, sql: str, password: str | None) -> subprocess.CompletedProcess:
    """`sql` run by psql on `url` (a URL without password), the password given by environment or not at all."""
    env = {"PGPASSWORD": password} if password else {}
    clean = {k: v for k, v in os.environ.items() if k != "PGPASSWORD"}
    return subprocess.run(["psql", "-v", "ON_ERROR_STOP=1", "-c", sql, url], capture_output=True, text=True,
                          env={**clean, **env}, timeout=60)  # fmt: skip
