"""Credentials stay out of every file the tool writes (logs, commands.jsonl, repro.sh, cell.json, reports).

Two rules. Processes get a database password through the environment (`PGPASSWORD`, which libpq and
so every PostgreSQL driver and tool reads), never on a command line: `split_password` takes it out
of the URLs a team gives. And everything written goes through `redact`: a URL's password becomes
`***`, and so does any value of a variable whose name says credential, or the password of a URL given
in the ROLLOUT_* variables (wherever else it turns up, e.g. echoed by a driver). What the processes
themselves write into the cell's logs is scrubbed the same way when the cell ends (`scrub`).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from urllib.parse import unquote, urlsplit, urlunsplit

MASK = "***"
CREDENTIAL_NAME = re.compile(r"TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIAL|_AUTH|API_KEY|PGPASS", re.I)
GIVEN_URLS = (
    "ROLLOUT_POSTGRES_URL",
    "ROLLOUT_MYSQL_URL",
    "ROLLOUT_STORE_COPY",
    "ROLLOUT_MODELS_FROM",
)  # URLs a team gives us
INDEX_URLS = "ROLLOUT_INDEX_URL__"  # a label's internal index (envs/versions.yaml `index_url`, per label)
PASSWORD_VAR = "PGPASSWORD"
_URL_PASSWORD = re.compile(r"(?P<head>\b[a-z][a-z0-9+.-]*://[^\s:/@'\"]*:)(?P<password>[^\s@/'\"]+)(?=@)", re.I)
_SHORTEST = 6  # shorter values would mask unrelated text; a real password is longer
_NOT_SECRET = re.compile(r"(?i)true|false|yes|no|none|null|on|off|[0-9]+")  # flags, e.g. HF_HUB_DISABLE_..._TOKEN=true
_SCRUB_LIMIT = 64 * 1024 * 1024  # bigger files are data (a database dump, a model), not what we write


def split_password(url: str) -> tuple[str, str | None]:
    """`url` without its password, and the password (None when it has none)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url, None
    host = parts.netloc.rsplit("@", 1)[1]
    user = f"{parts.username}@" if parts.username else ""
    return urlunsplit(parts._replace(netloc=f"{user}{host}")), unquote(parts.password)


def known(environ: Mapping[str, str] | None = None) -> frozenset[str]:
    """Every secret value this process was given: credential variables and passwords of given URLs."""
    environ = os.environ if environ is None else environ
    found = {value for name, value in environ.items() if CREDENTIAL_NAME.search(name)}
    for name in [*GIVEN_URLS, *(n for n in environ if n.startswith(INDEX_URLS))]:
        password = split_password(environ.get(name, ""))[1]
        if password:
            found |= {password, urlsplit(environ[name]).password or ""}  # decoded and as written
        elif name.startswith(INDEX_URLS) and urlsplit(environ[name]).username:  # `https://<token>@host/simple`
            found |= {urlsplit(environ[name]).username or "", unquote(urlsplit(environ[name]).username or "")}
    return frozenset(value for value in found if len(value) >= _SHORTEST and not _NOT_SECRET.fullmatch(value))


def redact(text: str, secrets: Iterable[str] | None = None) -> str:
    """`text` with every URL password and every known secret value replaced by `***`."""
    text = _URL_PASSWORD.sub(lambda m: m["head"] + MASK, text)
    for secret in sorted(known() if secrets is None else secrets, key=len, reverse=True):
        text = text.replace(secret, MASK)
    return text


def redact_env(environ: Mapping[str, str]) -> dict[str, str]:
    """Variables for a record: a credential variable's value is replaced (repro.sh asks for it instead)."""
    return {name: MASK if CREDENTIAL_NAME.search(name) else redact(value) for name, value in environ.items()}


def scrub(folder: Path, secrets: Iterable[str] | None = None) -> list[Path]:
    """Redact every text file under `folder` that holds a secret (what the cell's processes wrote);
    the files changed. Nothing to do, and nothing read, when no secret is known."""
    secrets = sorted(known() if secrets is None else secrets, key=len, reverse=True)
    if not secrets or not folder.is_dir():
        return []
    needles = [s.encode() for s in secrets]
    changed = []
    for path in folder.rglob("*"):
        try:
            if not path.is_file() or path.is_symlink() or path.stat().st_size > _SCRUB_LIMIT:
                continue
            data = path.read_bytes()
        except OSError:
            continue  # a file a server removed while we walked, or one the postgres user owns
        if not any(needle in data for needle in needles):
            continue
        try:
            text = data.decode()
        except UnicodeDecodeError:
            for needle in needles:  # a binary file: same length, so offsets inside it stay valid
                data = data.replace(needle, b"*" * len(needle))
            path.write_bytes(data)
        else:
            path.write_text(redact(text, secrets))
        changed.append(path)
    return changed
