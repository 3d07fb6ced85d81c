"""Production's tracking server with mlflow's basic-auth app (`--app-name basic-auth`, 2.5+).

The auth app keeps its users and permissions in a database of its own, with migrations of its own that the
new label's server runs when it starts on it. The check never uses production's auth database: both labels'
servers share one the check makes in the cell (its config file there, `MLFLOW_AUTH_CONFIG_PATH`), with an admin
and a password made for this cell only, kept in memory and given to processes by environment. Production's
label writes a user and its permission on an experiment into it (inenv/serverclient.py, `auth-write`); the new
label's server must then read them back equal and let that user in, and both must refuse a request without
credentials.
"""

from __future__ import annotations

import contextlib
import secrets
import sqlite3
import subprocess
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path

from rolloutcheck.core import tools
from rolloutcheck.core.procs import run_logged

APP = "basic-auth"
USER = "rolloutcheck-user"  # the user production's label creates, read back by the new label
CONFIG = """[mlflow]
default_permission = READ
database_uri = sqlite:///{database}
admin_username = admin
admin_password = {password}
authorization_function = mlflow.server.auth:authenticate_request_basic_auth
"""


# mlflow[auth]: what production's server environment has for the auth app and a store environment lacks
EXTRAS = ("Flask-WTF<2", "WTForms")


def server_packages(prefix: Path, folder: Path, log: Path) -> Path | None:
    """mlflow[auth]'s own packages for the server of the environment at `prefix`, where it lacks them: installed
    beside it (a folder on the server's PYTHONPATH, the environment itself untouched); None when it has them."""
    python = str(prefix / "bin" / "python")
    if subprocess.run([python, "-c", "import flask_wtf"], capture_output=True, timeout=120).returncode == 0:
        return None
    code, lines = run_logged([tools.uv_bin(), "pip", "install", "--quiet", "--python", python, "--target", str(folder),
                              "--no-deps", *EXTRAS], log)  # fmt: skip
    if code != 0:
        raise RuntimeError(f"installing {', '.join(EXTRAS)} for the auth app failed: {(lines or ['?'])[-1]}")
    return folder


# production's auth database as it exists in production: its tables and its admin, made once by production's
# label (a fresh database started with several workers races its own first migration: "Worker failed to boot")
PREPARE = ("from mlflow.server import auth; auth.store.init_db(auth.auth_config.database_uri); "
           "auth.create_admin_user(auth.auth_config.admin_username, auth.auth_config.admin_password)")  # fmt: skip


def prepared(prefix: Path, environ: dict[str, str], log: Path) -> None:
    """The auth database made by production's label (`prefix`) before its server starts; RuntimeError if not."""
    code, lines = run_logged([str(prefix / "bin" / "python"), "-c", PREPARE], log, environ)
    if code != 0:
        raise RuntimeError(f"production's label could not make the auth database: {(lines or ['?'])[-1]}")


def migrated(prefix: Path, url: str, environ: dict[str, str], log: Path) -> None:
    """The auth database moved to the new label's revision with its own command (`python -m mlflow.server.auth db
    upgrade`), before its server starts, as `mlflow db upgrade` moves the tracking store; RuntimeError if not."""
    command = [str(prefix / "bin" / "python"), "-m", "mlflow.server.auth", "db", "upgrade", "--url", url]
    code, lines = run_logged(command, log, environ)
    if code != 0:
        raise RuntimeError(f"the auth database's migration failed: {(lines or ['?'])[-1]}")


def revisions(auth: Auth) -> dict[str, str]:
    """The auth database's Alembic revisions by version table (3.x keeps its own, `alembic_version_auth`)."""
    found = {}
    with contextlib.closing(sqlite3.connect(f"file:{auth.folder / 'basic_auth.db'}?mode=ro", uri=True)) as db:
        for (table,) in db.execute("SELECT name FROM sqlite_master WHERE name LIKE 'alembic_version%'").fetchall():
            rows = db.execute(f'SELECT version_num FROM "{table}"').fetchall()  # a table name it just listed
            found[table] = ",".join(r[0] for r in rows)
    return found


def is_on(options: tuple[str, ...]) -> bool:
    """Whether production's options start the basic-auth app."""
    return any(a == "--app-name" and b == APP or a == f"--app-name={APP}" for a, b in pairwise((*options, "")))


@dataclass
class Auth:
    """The check's own auth database for one cell: made once, shared by both labels' servers."""

    folder: Path
    admin_password: str = field(default_factory=lambda: "Rc-" + secrets.token_urlsafe(18))
    user_password: str = field(default_factory=lambda: "Rc-" + secrets.token_urlsafe(18))
    secret_key: str = field(default_factory=lambda: secrets.token_hex(16))
    written: dict | None = None  # what production's label wrote (user, permission), the new label must read back
    experiment_id: str | None = None  # the experiment that permission is on

    made_by: Path | None = None  # the environment that made it (production's label's)
    migrated_by: Path | None = None  # the environment that moved it to its revision (the new label's)

    @property
    def config(self) -> Path:
        return self.folder / "basic_auth.ini"

    @property
    def url(self) -> str:
        return f"sqlite:///{self.folder / 'basic_auth.db'}"

    def server_environ(self) -> dict[str, str]:
        """The server's variables: the check's config always wins over one production's environment names."""
        if not self.config.exists():
            self.folder.mkdir(parents=True, exist_ok=True)
            self.config.write_text(CONFIG.format(database=self.folder / "basic_auth.db", password=self.admin_password))
        return {"MLFLOW_AUTH_CONFIG_PATH": str(self.config), "MLFLOW_FLASK_SERVER_SECRET_KEY": self.secret_key}

    def client_environ(self, mode: str) -> dict[str, str]:
        """A client's variables: the admin's credentials (as mlflow reads them) and the user to write or read."""
        environ = {"MLFLOW_TRACKING_USERNAME": "admin", "MLFLOW_TRACKING_PASSWORD": self.admin_password,
                   "ROLLOUTCHECK_AUTH": mode, "ROLLOUTCHECK_AUTH_USER": USER,
                   "ROLLOUTCHECK_AUTH_USER_PASSWORD": self.user_password}  # fmt: skip
        if self.experiment_id:
            environ["ROLLOUTCHECK_AUTH_EXPERIMENT"] = self.experiment_id
        return environ


def differences(written: dict, read: dict) -> list[str]:
    """What the new label's server says differently about the user production's label wrote."""
    return [f"{key}: {written.get(key)!r} -> {read.get(key)!r}" for key in sorted({*written, *read})
            if written.get(key) != read.get(key)]  # fmt: skip


def refused_without_credentials(done: dict) -> str | None:
    """Why the server's answer to a request without credentials is wrong, or None (401 is right)."""
    status = (done.get("auth") or {}).get("unauthenticated")
    return None if status == 401 else f"a request without credentials got HTTP {status}, not 401"
