"""Production's models in a copy of its tracking store (ROLLOUT_MODELS_FROM), read without mlflow and never written.

The copy is a SQLite file (opened read-only: `mode=ro`), an `mlruns/` folder (files read), or a PostgreSQL
database that is itself a copy (read by `psql` in a read-only transaction, the password given by
environment, never on its command line). What a
selection (inputs/modelselect.py) picks becomes one `ProductionModel` each, with a stable id (the nox
parameter): `<registered name>-v<version>`, or `run-<run id>-<artifact path>`. Artifact locations
recorded in the store point where production kept them; in a copy they are found again under the
copy's folder (the longest tail of the recorded path that exists there), else at the recorded path.
"""

from __future__ import annotations

import csv
import fnmatch
import functools
import io
import json
import os
import re
import shutil
import sqlite3
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlsplit

import yaml

from rolloutcheck.core import paths, secrets
from rolloutcheck.core.errors import Failure
from rolloutcheck.envs import install
from rolloutcheck.inputs.modelselect import LINK_TAG, Registered, Runs, Selection
from rolloutcheck.stores import mysql, postgres

NOTHING = "nothing-selected"  # the one cell of a selection that matches no model: it fails config saying so
MAX_DEPTH = 4  # how deep under a run's artifacts an MLmodel is looked for


class CopyError(Failure, ValueError):
    """The copy cannot be read as a tracking store (one line)."""


@dataclass(frozen=True)
class ProductionModel:
    id: str  # stable: what `nox -s "models-<label>(<id>)"` names
    shown: str  # how the decision names it: registered name, version, stage/alias; or run and path
    run_id: str | None
    path: str | None  # the artifact path of the model in its run
    model_dir: Path | None  # where its files are (in the copy); None: `remote` or `problem` says why
    usecase: str | None = None  # the linked use case, whose stored requests it is asked too
    registered: dict = field(default_factory=dict)  # name, version, stage, aliases
    problem: str | None = None
    remote: str | None = None  # the URI its files are downloaded from (fetch): on a live server, or an object store


@dataclass(frozen=True)
class Version:
    name: str
    version: str
    source: str
    run_id: str | None
    stage: str | None
    aliases: tuple[str, ...]


@dataclass(frozen=True)
class Run:
    run_id: str
    experiment: str
    artifact_uri: str
    tags: dict[str, str]


def slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-")


PROXIED = "mlflow-artifacts"  # behind a tracking server's artifact proxy: only that server can hand them out
OBJECT_STORES = ("s3", "gs", "wasbs", "abfss", "hdfs", "oss", "sftp", "ftp")  # mlflow's artifact repositories


def remote_uri(uri: str) -> str | None:
    """An artifact URI in an object store mlflow reads itself (s3://...: downloaded with production's client and
    its own variables, MLFLOW_S3_ENDPOINT_URL, AWS_*); None for local paths and the artifact proxy."""
    return uri if urlsplit(uri).scheme in OBJECT_STORES else None


def local_path(uri: str) -> Path | None:
    """A `file:` URI or a plain path as a Path; None for remote schemes (s3://, ...)."""
    parts = urlsplit(uri)
    if parts.scheme in ("", "file"):
        return Path(unquote(parts.path))
    return None


class Copy:
    """A store copy: `versions()` of its registry and `runs()`; `locate()` finds recorded paths in it."""

    def __init__(self, given: str):
        self.given = given
        if given.startswith(("postgresql://", "postgres://")):
            self.path, self.root, self.kind = None, None, "postgresql"
            self.url, self.password = secrets.split_password(given)
            return
        if given.startswith(("mysql://", "mysql+pymysql://")):
            self.path, self.root, self.kind = None, None, "mysql"
            self.url, self.password = secrets.split_password(given)
            return
        path = local_path(given[len("sqlite:///") :] if given.startswith("sqlite:///") else given)
        if path is None or "://" in given and not given.startswith(("file:", "sqlite:")):
            raise CopyError(f"ROLLOUT_MODELS_FROM: {secrets.redact(given)} is no SQLite file, mlruns/ folder, "
                            "postgresql:// or mysql:// database")  # fmt: skip
        if not path.exists():
            raise CopyError(f"ROLLOUT_MODELS_FROM: {path or given} does not exist")
        self.path = path.resolve()
        self.root = self.path.parent  # artifacts of a copy sit beside the store (or inside an mlruns/ folder)
        self.kind = "sqlite" if self.path.is_file() else "mlruns"

    def locate(self, recorded: str) -> Path | None:
        path = local_path(recorded)
        if path is None:
            return None
        if self.root is None:  # a database copy: the artifacts are where it says, read only
            return path if path.exists() else None
        parts = path.parts[1:]
        for start in range(len(parts)):
            candidate = self.root.joinpath(*parts[start:])
            if candidate.exists() and self.root in candidate.parents:
                return candidate
        return path if path.exists() else None

    # -- SQLite and PostgreSQL ------------------------------------------------------------------------
    def _sql(self, query: str, *args) -> list[tuple]:
        if self.kind == "postgresql":
            return self._psql(query, *args)
        if self.kind == "mysql":
            return self._mysql(query, *args)
        try:
            with sqlite3.connect(f"{self.path.as_uri()}?mode=ro", uri=True) as db:
                return db.execute(query, args).fetchall()
        except sqlite3.DatabaseError as error:
            raise CopyError(f"ROLLOUT_MODELS_FROM: {self.path} is not a readable tracking store: {error}") from None

    def _psql(self, query: str, *args) -> list[tuple]:
        """`query` (`?` placeholders, bound as psql variables) in a read-only transaction, rows as text."""
        for n, _ in enumerate(args):
            query = query.replace("?", f":'a{n}'", 1)
        script = f"BEGIN TRANSACTION READ ONLY;\n{query};\nROLLBACK;\n"
        try:
            psql = shutil.which("psql") or str(postgres.bindir() / "psql")
        except postgres.PostgresError as error:
            raise CopyError(f"ROLLOUT_MODELS_FROM: {error}") from None
        command = [psql, "-X", "-q", "--csv", "-t", "-v", "ON_ERROR_STOP=1",
                   *(a for n, arg in enumerate(args) for a in ("-v", f"a{n}={arg}")), self.url]  # fmt: skip
        output = self._client(command, script, secrets.PASSWORD_VAR, "psql")
        return [tuple(row) for row in csv.reader(io.StringIO(output)) if row]

    def _client(self, command: list[str], script: str, password_variable: str, what: str) -> str:
        """A database client's output for `script` (the password by `password_variable`); CopyError in one line."""
        environ = {**os.environ, **({password_variable: self.password} if self.password else {})}
        try:
            done = subprocess.run(command, input=script, capture_output=True, text=True, env=environ, timeout=120)
        except (OSError, subprocess.TimeoutExpired) as error:
            raise CopyError(f"ROLLOUT_MODELS_FROM: {what} could not read {self.url}: {error}") from None
        if done.returncode != 0:
            line = (done.stderr.strip().splitlines() or ["no output"])[-1]
            raise CopyError(f"ROLLOUT_MODELS_FROM: {self.url} is not a readable tracking store: {secrets.redact(line)}")
        return done.stdout

    def _mysql(self, query: str, *args) -> list[tuple]:
        """`query` in a read-only transaction with MariaDB's client, its `?` bound as user variables set from
        hex (no value is ever spliced into SQL); the password by environment (MYSQL_PWD), never on a line."""
        sets = "".join(f"SET @a{n} = CONVERT(0x{str(arg).encode().hex() or '00'} USING utf8mb4);\n"
                       if str(arg) else f"SET @a{n} = '';\n" for n, arg in enumerate(args))  # fmt: skip
        for n, _ in enumerate(args):
            query = query.replace("?", f"@a{n}", 1)
        host, port, user, database = mysql.url_parts(self.url)
        try:
            client = mysql.client_tool()
        except mysql.MysqlError as error:
            raise CopyError(f"ROLLOUT_MODELS_FROM: {error.reason}") from None
        command = [client, "--no-defaults", "--batch", "--skip-column-names", f"--host={host}", f"--port={port}",
                   f"--user={user}", database]  # fmt: skip
        script = f"SET SESSION TRANSACTION READ ONLY;\nSTART TRANSACTION READ ONLY;\n{sets}{query};\nROLLBACK;\n"
        output = self._client(command, script, "MYSQL_PWD", "the MariaDB client")
        return [tuple(_unescaped(v) for v in line.split("\t")) for line in output.splitlines() if line]

    @functools.cached_property
    def _tables(self) -> set[str]:
        if self.kind == "mysql":
            return {row[0] for row in self._sql("SHOW TABLES")}
        if self.kind == "postgresql":
            rows = self._sql("SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()")
            return {row[0] for row in rows}
        return {row[0] for row in self._sql("SELECT name FROM sqlite_master WHERE type = 'table'")}

    def versions(self) -> list[Version]:
        if self.kind == "mlruns":
            return list(self._file_versions())
        tables = self._tables
        if "model_versions" not in tables:
            return []  # a store written before the registry (mlflow < 1.4)
        aliases: dict[tuple[str, str], list[str]] = {}
        if "registered_model_aliases" in tables:
            for alias, version, name in self._sql("SELECT alias, version, name FROM registered_model_aliases"):
                aliases.setdefault((name, str(version)), []).append(alias)
        rows = self._sql("SELECT name, version, source, run_id, current_stage FROM model_versions "
                         "WHERE current_stage != 'Deleted_Internal' ORDER BY name, version")  # fmt: skip
        return [Version(n, str(v), s or "", r or None, st, tuple(sorted(aliases.get((n, str(v)), []))))
                for n, v, s, r, st in rows]  # fmt: skip

    def runs(self, experiment: str) -> list[Run]:
        if self.kind == "mlruns":
            return list(self._file_runs(experiment))
        rows = self._sql("SELECT r.run_uuid, r.artifact_uri FROM runs r JOIN experiments e "
                         "ON r.experiment_id = e.experiment_id WHERE e.name = ? AND r.lifecycle_stage = 'active' "
                         "ORDER BY r.start_time, r.run_uuid", experiment)  # fmt: skip
        tags: dict[str, dict[str, str]] = {}  # one query for the experiment's tags, not one per run
        for run_id, key, value in self._sql("SELECT t.run_uuid, t.key, t.value FROM tags t JOIN runs r ON "
                                            "t.run_uuid = r.run_uuid JOIN experiments e ON r.experiment_id = "
                                            "e.experiment_id WHERE e.name = ?", experiment):  # fmt: skip
            tags.setdefault(run_id, {})[key] = value
        return [Run(run_id, experiment, artifact_uri or "", tags.get(run_id, {})) for run_id, artifact_uri in rows]

    def logged_model_dir(self, model_id: str) -> Path | None:
        """A 3.x LoggedModel's artifacts (`models:/m-...` sources)."""
        if self.kind != "mlruns" and "logged_models" in self._tables:
            rows = self._sql("SELECT artifact_location FROM logged_models WHERE model_id = ?", model_id)
            return self.locate(rows[0][0]) if rows else None
        return None

    # -- mlruns/ folder -------------------------------------------------------------------------------
    @staticmethod
    def _meta(path: Path) -> dict:
        try:
            return yaml.safe_load(path.read_text()) or {} if path.is_file() else {}
        except (OSError, yaml.YAMLError):
            return {}

    def _file_versions(self) -> Iterator[Version]:
        models = self.path / "models"
        for model in sorted(models.iterdir()) if models.is_dir() else []:
            aliases: dict[str, list[str]] = {}
            for alias in sorted((model / "aliases").glob("*")) if (model / "aliases").is_dir() else []:
                aliases.setdefault(alias.read_text().strip(), []).append(alias.name)
            for folder in sorted(model.glob("version-*"), key=lambda p: int(p.name.split("-")[1])):
                meta = self._meta(folder / "meta.yaml")
                if meta.get("current_stage") == "Deleted_Internal":
                    continue
                version = str(meta.get("version", folder.name.split("-")[1]))
                yield Version(model.name, version, str(meta.get("source") or ""), meta.get("run_id") or None,
                              meta.get("current_stage"), tuple(aliases.get(version, [])))  # fmt: skip

    def _file_runs(self, experiment: str) -> Iterator[Run]:
        for folder in sorted(p for p in self.path.iterdir() if p.is_dir() and (p / "meta.yaml").is_file()):
            if self._meta(folder / "meta.yaml").get("name") != experiment:
                continue
            runs = [p for p in folder.iterdir() if p.is_dir() and (p / "meta.yaml").is_file()]
            for run in sorted(runs, key=lambda p: (self._meta(p / "meta.yaml").get("start_time") or 0, p.name)):
                meta = self._meta(run / "meta.yaml")
                if meta.get("lifecycle_stage", "active") != "active":
                    continue
                tags_dir = run / "tags"
                tags = {str(t.relative_to(tags_dir)): t.read_text().strip()
                        for t in tags_dir.rglob("*") if t.is_file()} if tags_dir.is_dir() else {}  # fmt: skip
                yield Run(str(meta.get("run_id") or run.name), experiment, str(meta.get("artifact_uri") or ""), tags)


def _unescaped(value: str) -> str | None:
    """A value of the MariaDB client's batch output: NULL, or its \\t \\n \\\\ escapes undone."""
    if value == "NULL":
        return None
    return re.sub(r"\\(.)", lambda m: {"t": "\t", "n": "\n", "0": "\0"}.get(m[1], m[1]), value)


def _models_under(artifacts: Path, depth: int = 0) -> Iterator[Path]:
    if (artifacts / "MLmodel").is_file():
        yield artifacts
        return
    if depth < MAX_DEPTH and artifacts.is_dir():
        for child in sorted(p for p in artifacts.iterdir() if p.is_dir()):
            yield from _models_under(child, depth + 1)


def _picks(entry: Registered, version: Version) -> bool:
    """Whether a `registered:` entry of the selection picks this model version (name, stage, alias, version)."""
    return (fnmatch.fnmatchcase(version.name, entry.pattern)
            and (not entry.stage or (version.stage or "").lower() == entry.stage.lower())
            and (not entry.alias or entry.alias in version.aliases)
            and (not entry.version or entry.version == version.version))  # fmt: skip


def _shown(version: Version) -> str:
    """How the decision names a registered model version: `registered model wine v2 (stage Production, ...)`."""
    where = [f"stage {version.stage}"] if version.stage and version.stage != "None" else []
    where += [f"alias {a}" for a in version.aliases]
    return f"registered model {version.name} v{version.version}" + (f" ({', '.join(where)})" if where else "")


def _registered(copy: Copy, entry: Registered, version: Version, runs: dict[str, Run]) -> ProductionModel:
    shown = _shown(version)
    source, run_id, path, model_dir = version.source, version.run_id, None, None
    if source.startswith("runs:/"):
        run_id, _, path = source[len("runs:/") :].partition("/")
        run = runs.get(run_id)
        artifacts = copy.locate(run.artifact_uri) if run else None
        model_dir = artifacts / path if artifacts and (artifacts / path / "MLmodel").is_file() else None
    elif source.startswith("models:/"):
        model_dir = copy.logged_model_dir(source[len("models:/") :].split("/")[0])
    else:
        model_dir = copy.locate(source)
        path = Path(source).name
    tags = runs[run_id].tags if run_id in runs else {}
    where = f"{runs[run_id].artifact_uri.rstrip('/')}/{path}" if run_id in runs and path else source
    remote = remote_uri(where) if model_dir is None else None
    problem = None if remote or model_dir and (model_dir / "MLmodel").is_file() else (
        f"{shown}: its files ({where}) are behind the artifact proxy of production's tracking server: read "
        "them from that server (ROLLOUT_MODELS_FROM=https://...)" if urlsplit(where).scheme == PROXIED else
        f"{shown}: its files ({source}) are not in the copy under {copy.root or 'the recorded path'}")  # fmt: skip
    registered = {"name": version.name, "version": version.version, "stage": version.stage,
                  "aliases": list(version.aliases), "source": source}  # fmt: skip
    return ProductionModel(slug(f"{version.name}-v{version.version}"), shown, run_id, path, model_dir,
                           entry.usecase or tags.get(LINK_TAG), registered, problem, remote)  # fmt: skip


def _all_runs(copy: Copy) -> dict[str, Run]:
    """Every active run of every experiment, by id (the runs registered versions come from)."""
    if copy.kind == "mlruns":
        names = [Copy._meta(p / "meta.yaml").get("name") for p in copy.path.iterdir() if (p / "meta.yaml").is_file()]
    else:
        names = [row[0] for row in copy._sql("SELECT name FROM experiments")]
    return {run.run_id: run for name in names if name for run in copy.runs(name)}


def _from_runs(copy: Copy, entry: Runs) -> Iterator[ProductionModel]:
    for run in copy.runs(entry.experiment):
        if any(run.tags.get(k) != v for k, v in entry.tags.items()):
            continue
        artifacts = copy.locate(run.artifact_uri)
        shown = f"run {run.run_id} of experiment {run.experiment}"
        usecase = entry.usecase or run.tags.get(LINK_TAG)
        if artifacts is None:
            problem = f"{shown}: its artifacts ({run.artifact_uri}) are not in the copy"
            yield ProductionModel(
                slug(f"run-{run.run_id}"), shown, run.run_id, entry.path, None, usecase, problem=problem
            )
            continue
        dirs = [artifacts / entry.path] if entry.path else list(_models_under(artifacts))
        for model_dir in dirs:
            path = model_dir.relative_to(artifacts).as_posix()
            problem = None if (model_dir / "MLmodel").is_file() else f"{shown}: no model at artifact path {path}"
            yield ProductionModel(slug(f"run-{run.run_id}-{path}"), f"{shown}, model {path}", run.run_id, path,
                                  model_dir if not problem else None, usecase, problem=problem)  # fmt: skip


def select(given: str, selection: Selection, reader: Path | None = None) -> tuple[list[ProductionModel], str | None]:
    """The models the selection picks in the copy (or on the live server, read with the mlflow of the
    `reader` environment), first match per model, in a stable order, at most `limit`; and a one-line note
    when more matched than the limit."""
    if is_server(given):
        return _select_live(LiveServer(given, reader, selection), selection)
    copy = Copy(given)
    found: dict[str, ProductionModel] = {}
    versions, runs = None, {}
    for entry in selection.entries:
        if isinstance(entry, Registered):
            if versions is None:
                versions, runs = copy.versions(), _all_runs(copy)
            for version in (v for v in versions if _picks(entry, v)):
                model = _registered(copy, entry, version, runs)
                found.setdefault(model.id, model)
        else:
            for model in _from_runs(copy, entry):
                found.setdefault(model.id, model)
    return _limited(list(found.values()), selection)


def _limited(chosen: list[ProductionModel], selection: Selection) -> tuple[list[ProductionModel], str | None]:
    """At most `limit` models, the first; a one-line note when more matched."""
    note = None
    if len(chosen) > selection.limit:
        note = f"{selection.source.name} selects {len(chosen)} models, limit {selection.limit}: the first are checked"
    return chosen[: selection.limit], note


def is_server(given: str) -> bool:
    return given.startswith(("http://", "https://"))


class LiveServer:
    """Production's tracking server, read through production's own mlflow client (drivers/inenv/inventory.py
    in the `reader` environment): only reading calls, credentials from mlflow's own variables."""

    kind = "server"

    def __init__(self, given: str, reader: Path | None, selection: Selection):
        if reader is None:
            raise CopyError(f"ROLLOUT_MODELS_FROM: {secrets.redact(given)} is a tracking server: it is read with "
                            "production's mlflow, whose environment is not made here")  # fmt: skip
        self.given, self.reader = given, reader
        experiments = [e.experiment for e in selection.entries if isinstance(e, Runs)]
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "inventory.json"
            done = _inenv(reader, ["list", given, str(out), *experiments])
            if done.returncode != 0 or not out.is_file():
                raise CopyError(f"ROLLOUT_MODELS_FROM: {secrets.redact(given)} could not be read by mlflow "
                                f"{install.installed_version(reader) or '?'}: {_last_line(done)}")  # fmt: skip
            self.inventory = json.loads(out.read_text())


def _inenv(reader: Path, args: list[str], timeout: float = 600) -> subprocess.CompletedProcess:
    """drivers/inenv/inventory.py in the reader environment (the caller's environment: mlflow's credentials)."""
    command = [str(reader / "bin" / "python"), str(paths.INENV / "inventory.py"), *args]
    try:
        return subprocess.run(command, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired) as error:
        return subprocess.CompletedProcess(command, 1, "", f"{type(error).__name__}: {error}")


def _last_line(done: subprocess.CompletedProcess) -> str:
    lines = [line for line in (done.stderr or "").splitlines() if line.strip()]
    return secrets.redact((lines or ["no output"])[-1])[:300]


def _select_live(server: LiveServer, selection: Selection) -> tuple[list[ProductionModel], str | None]:
    """The selection on a live server: the same rules as a copy's, files downloaded by the cell (fetch)."""
    found: dict[str, ProductionModel] = {}
    runs = server.inventory.get("runs", {})
    for entry in selection.entries:
        if isinstance(entry, Registered):
            for raw in server.inventory.get("versions", []):
                version = Version(raw["name"], raw["version"], raw["source"], raw["run_id"], raw["stage"],
                                  tuple(raw["aliases"]))  # fmt: skip
                if not _picks(entry, version):
                    continue
                shown = _shown(version)
                tags = (runs.get(version.run_id) or {}).get("tags", {})
                path = version.source.rstrip("/").rsplit("/", 1)[-1] if version.source else None
                registered = {"name": version.name, "version": version.version, "stage": version.stage,
                              "aliases": list(version.aliases), "source": version.source}  # fmt: skip
                model = ProductionModel(slug(f"{version.name}-v{version.version}"), shown, version.run_id, path, None,
                                        entry.usecase or tags.get(LINK_TAG), registered,
                                        remote=f"models:/{version.name}/{version.version}")  # fmt: skip
                found.setdefault(model.id, model)
        else:
            for run in server.inventory.get("experiments", {}).get(entry.experiment, []):
                if any(run["tags"].get(k) != v for k, v in entry.tags.items()):
                    continue
                shown = f"run {run['run_id']} of experiment {entry.experiment}"
                for path in [entry.path] if entry.path else run.get("models", []):
                    model = ProductionModel(slug(f"run-{run['run_id']}-{path}"), f"{shown}, model {path}",
                                            run["run_id"], path, None, entry.usecase or run["tags"].get(LINK_TAG),
                                            remote=f"runs:/{run['run_id']}/{path}")  # fmt: skip
                    found.setdefault(model.id, model)
    return _limited(list(found.values()), selection)


def fetch(model: ProductionModel, given: str, reader: Path, dest: Path) -> Path:
    """The model's files from the live server, or from the object store a copy names, into `dest` (the cell's
    own folder; the server and the object store only read)."""
    with tempfile.TemporaryDirectory(dir=dest.parent) as tmp:
        done = _inenv(reader, ["download", given, model.remote or "", tmp])
        if done.returncode != 0:
            version = install.installed_version(reader) or "?"
            raise CopyError(f"{model.shown}: mlflow {version} could not download {model.remote}: {_last_line(done)}")
        found = next((p.parent for p in sorted(Path(tmp).rglob("MLmodel"), key=lambda p: len(p.parts))), None)
        if found is None:
            raise CopyError(f"{model.shown}: {model.remote} holds no MLmodel")
        shutil.copytree(found, dest)
    return dest


def model_python(model_dir: Path) -> str | None:
    """The `X.Y` Python the model was logged with: python_env.yaml, else conda.yaml, else MLmodel."""
    patterns = (("python_env.yaml", r"^python:\s*['\"]?(\d+\.\d+)"), ("conda.yaml", r"-\s*python=+(\d+\.\d+)"),
                ("MLmodel", r"python_version:\s*['\"]?(\d+\.\d+)"))  # fmt: skip
    for name, pattern in patterns:
        file = model_dir / name
        if file.is_file():
            found = re.search(pattern, file.read_text(), re.M)
            if found:
                return found[1]
    return None
