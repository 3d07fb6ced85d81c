"""A team's PostgreSQL server that needs a password (scram-sha-256, started here): store checks given it in
ROLLOUT_POSTGRES_URL or ROLLOUT_STORE_COPY pass, and the password is in no file under the run folder nor
in nox's output; the repro.sh of the copy's cell replays with PGPASSWORD set and asks for it when unset."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from pgserver import password_server, psql

from rolloutcheck.cells.storecheck import store_venv
from rolloutcheck.core import paths
from rolloutcheck.inputs import registry
from rolloutcheck.spec.results import PASS, CellResult
from rolloutcheck.stores import postgres as pgcluster
from sessions import validate

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(1800)]

PASSWORD = "Rollout-pw-7f3a9c"  # nothing else in a run folder looks like it


@pytest.fixture(scope="module")
def server() -> str:
    try:
        pgcluster.bindir()
    except pgcluster.PostgresError as error:
        pytest.skip(f"PostgreSQL server binaries are missing (.ci/run installs them): {error.reason}")
    with password_server(PASSWORD) as url:
        yield url


def bare(url: str, database: str = "postgres") -> str:
    return url.replace(f":{PASSWORD}@", "@").rsplit("/", 1)[0] + f"/{database}"


def leaks(run: Path, output: str) -> list[str]:
    """Every file under `run` (and nox's output) that holds the password; the number of files searched first."""
    files = [p for p in run.rglob("*") if p.is_file() and not p.is_symlink()]
    found = [str(p.relative_to(run)) for p in files if PASSWORD.encode() in p.read_bytes()]
    return [f"{len(files)} files searched", *found, *(["nox output"] if PASSWORD in output else [])]


def the_cell(run: Path) -> CellResult:
    result = CellResult.from_json(next(run.glob("store-upgrade-3.17.2/postgresql*/cell.json")).read_text())
    stages = {s.stage: s.status for s in result.stages}
    assert all(status == PASS for status in stages.values()), stages
    return result


@pytest.fixture(scope="module")
def url_run(server, tmp_path_factory) -> Path:
    assert psql(bare(server), "SELECT 1", None).returncode != 0, "the server must refuse a client without password"
    run = tmp_path_factory.mktemp("secret-url") / "run"
    done = validate("store-upgrade-3.17.2(postgresql)", run, ROLLOUT_POSTGRES_URL=server)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    the_cell(run)
    searched, *found = leaks(run, done.stdout + done.stderr)
    print(f"ROLLOUT_POSTGRES_URL: {searched}, the password found in {len(found)}: {found}")
    assert not found
    return run


def test_a_password_in_rollout_postgres_url_is_written_nowhere(url_run):
    result = the_cell(url_run)
    store = next(s for s in result.stages if s.stage == "store")
    assert store.details["server"] == "existing (ROLLOUT_POSTGRES_URL)" and "postgresql://postgres@" in store.reason
    commands = (Path(result.cell_dir) / "logs" / "commands.jsonl").read_text()
    assert '"PGPASSWORD": "***"' in commands  # given to processes by environment, recorded masked


def test_a_password_in_rollout_store_copy_is_written_nowhere_and_repro_asks_for_it(server, url_run, tmp_path):
    # production's copy: a database on the password server, written by production's own client (1.2.0)
    assert psql(bare(server), "CREATE DATABASE prodcopy", PASSWORD).returncode == 0
    labels = registry.load_labels()
    source = store_venv(labels["3.17.2"], labels["1.2.SBD.0"])  # the env the first cell built
    size = {"experiments": 2, "runs": 2, "steps": 5, "models": 1}
    populate = [str(source / "bin" / "python"), str(paths.INENV / "populate.py"), bare(server, "prodcopy"),
                json.dumps(size), str(tmp_path / "written.json")]  # fmt: skip
    done = subprocess.run(populate, cwd=tmp_path, capture_output=True, text=True, timeout=600,
                          env={**os.environ, "PGPASSWORD": PASSWORD})  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    copy_url = server.rsplit("/", 1)[0] + "/prodcopy"

    run = tmp_path / "run"
    done = validate("store-upgrade-3.17.2(postgresql)", run, ROLLOUT_STORE_COPY=copy_url)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    result = the_cell(run)
    assert result.upgrade["copy_of"] == copy_url.replace(PASSWORD, "***")
    searched, *found = leaks(run, done.stdout + done.stderr)
    print(f"ROLLOUT_STORE_COPY: {searched}, the password found in {len(found)}: {found}")
    assert not found

    repro = Path(result.cell_dir) / "repro.sh"
    clean = {k: v for k, v in os.environ.items() if k not in ("PGPASSWORD", "ROLLOUT_STORE_COPY")}
    asked = subprocess.run(["bash", str(repro)], capture_output=True, text=True, env=clean, timeout=120)
    assert asked.returncode != 0 and "set PGPASSWORD" in asked.stderr, asked.stderr[-2000:]
    replayed = subprocess.run(["bash", str(repro)], capture_output=True, text=True, timeout=900,
                              env={**clean, "PGPASSWORD": PASSWORD})  # fmt: skip
    assert replayed.returncode == 0, replayed.stdout[-3000:] + replayed.stderr[-3000:]
    runs = psql(bare(server, "prodcopy"), "SELECT count(*) FROM runs", PASSWORD)
    assert runs.returncode == 0, runs.stderr
