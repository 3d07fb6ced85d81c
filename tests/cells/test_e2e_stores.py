"""Tracking-store checks for real: production's mlflow (1.2.SBD.0) writes SQLite, PostgreSQL and file
stores, 3.17.2 upgrades, migrates and reads them, old clients train against a 3.17.2 tracking server,
and the comparison catches a metric point removed from an upgraded store. PostgreSQL is a real private
cluster (Debian's postgresql package, which .ci/run installs); without it those tests skip, saying so."""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

import psutil
import pytest

from rolloutcheck.cells import storecheck as storeupgrade
from rolloutcheck.core import paths, procs
from rolloutcheck.core.procs import Launch
from rolloutcheck.inputs import stores as storeconfig
from rolloutcheck.reports import decision
from rolloutcheck.spec.results import PASS, XFAIL, CellResult
from rolloutcheck.stores import postgres as pgcluster
from rolloutcheck.stores import schemadiff
from rolloutcheck.stores import scripts as storeops
from sessions import NOX, ROOT, alive, foreground_job, nox_env, ours, validate

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(1800)]


def cell(run: Path, kind: str) -> CellResult:
    return CellResult.from_json(next(run.glob(f"store-upgrade-3.17.2/{kind}*/cell.json")).read_text())


def statuses(result: CellResult) -> dict[str, str]:
    return {s.stage: s.status for s in result.stages}


def need_postgres() -> None:
    try:
        pgcluster.bindir()
    except pgcluster.PostgresError as error:
        pytest.skip(f"PostgreSQL server binaries are missing (.ci/run installs them): {error.reason}")


@pytest.fixture(scope="module")
def sqlite_run(tmp_path_factory) -> Path:
    run = tmp_path_factory.mktemp("stores") / "run"
    done = validate("store-upgrade-3.17.2(sqlite)", run)
    assert done.returncode == 0, done.stdout[-4000:]
    return run


def check_database_cell(result: CellResult) -> None:
    stages = statuses(result)
    assert all(status == PASS for status in stages.values()), stages
    assert result.from_label == "1.2.SBD.0" and result.upgrade["from_mlflow"] == "1.2.0"
    migration = result.upgrade["migration"]
    assert migration["revision_before"] != migration["revision_after"] and migration["seconds"] > 0
    compared = result.upgrade["compared"]
    written = result.upgrade["written"]
    # what populate wrote, plus the use case's own `mlflow run` and the Default experiment
    assert compared["runs"] == written["runs"] + 1 and compared["experiments"] == written["experiments"] + 1
    assert compared["metric points"] >= written["metric_points"] and compared["deleted runs"] >= 1
    assert compared["deleted experiments"] == 1
    assert result.upgrade["check_upgrade"] == "not available"  # 3.17.2 has no `mlflow db check-upgrade`
    rollback = next(s for s in result.stages if s.stage == "rollback")
    assert "nothing lost or changed" in rollback.reason
    # the migrated schema is the one a fresh 3.17.2 store gets: tables, columns, keys, indexes, revision
    schema = next(s for s in result.stages if s.stage == "schema")
    assert "the same as a fresh store's" in schema.reason and result.upgrade["schema"]["count"] == 0
    assert (
        result.upgrade["schema"]["revision"] == migration["revision_after"] and result.upgrade["schema"]["tables"] > 10
    )


def test_sqlite_upgrade_to_3_17_2_loses_nothing_and_rolls_back(sqlite_run):
    result = cell(sqlite_run, "sqlite")
    check_database_cell(result)
    diff = Path(result.cell_dir) / "logs" / "to-snapshot.diff.txt"
    assert "0 difference(s)" in diff.read_text()


def test_postgresql_upgrade_to_3_17_2_loses_nothing_and_rolls_back(tmp_path):
    need_postgres()
    run = tmp_path / "run"
    done = validate("store-upgrade-3.17.2(postgresql)", run)  # asserts no process (the server) survived
    left = database_servers_in(run)  # its workers rewrite their environment: found by their folder
    assert not left, f"PostgreSQL processes outlived the session: {left}"
    assert done.returncode == 0, done.stdout[-4000:]
    result = cell(run, "postgresql")
    check_database_cell(result)
    assert result.stages[5].stage == "store" and "postgresql://" in result.stages[5].reason
    assert (Path(result.cell_dir) / "backup" / "mlflow.dump").stat().st_size > 0
    # each driver the check adds, left out in turn: 3.17.2's SQLAlchemy 2.1 connects with psycopg 3 only
    shown = {o["pin"]: o for o in result.upgrade["absence"]}
    assert shown["psycopg2-binary"]["outcome"] == "not needed", shown
    assert shown["psycopg[binary]"]["outcome"] == "needed" and "psycopg" in shown["psycopg[binary]"]["without"]
    made = decision.decide([result], store_pins=storeconfig.load().pins)
    assert [f.remedy.split("`")[1] for f in made.findings if f.kind == "requirement change"] == ["psycopg[binary]"]
    assert any("`psycopg2-binary` is not needed for 3.17.2" in n for n in made.notes)


def test_the_comparison_catches_a_metric_point_lost_in_the_upgraded_store(sqlite_run, tmp_path):
    """The real *to* client reads a really upgraded store from which one metric point was removed and
    another changed: the check fails, naming both."""
    result = cell(sqlite_run, "sqlite")
    cell_dir = Path(result.cell_dir)
    store = tmp_path / "upgraded.db"
    shutil.copy2(cell_dir / "backup" / "mlflow.db", store)
    target = storeupgrade.store_venv(type("L", (), {"name": "3.17.2"})())
    upgrade = subprocess.run([str(target / "bin" / "mlflow"), "db", "upgrade", f"sqlite:///{store}"],
                             capture_output=True, text=True, cwd=cell_dir)  # fmt: skip
    assert upgrade.returncode == 0, upgrade.stdout + upgrade.stderr
    with sqlite3.connect(store) as db:
        run_uuid, step, timestamp = db.execute(
            "SELECT run_uuid, step, timestamp FROM metrics WHERE key = 'm0' AND step = 3 LIMIT 1"
        ).fetchone()
        db.execute("DELETE FROM metrics WHERE run_uuid = ? AND key = 'm0' AND step = 3", (run_uuid,))
        db.execute("UPDATE params SET value = 'changed' WHERE run_uuid = ? AND key = 'p0'", (run_uuid,))
    launch = Launch(dict(os.environ), cell_dir, tmp_path / "snapshot.log", procs.new_marker(), "test")
    after = storeops.take_snapshot(target, f"sqlite:///{store}", tmp_path / "after.json", launch, 300)
    details: dict = {}
    with pytest.raises(storeops.StoreScriptError) as failed:
        storeops.compare_with(cell_dir / "snapshot-from.json", after, tmp_path / "diff.txt", "tampered", details)
    text = (tmp_path / "diff.txt").read_text()
    assert f"run {run_uuid} metric 'm0': point step {step} at {timestamp}" in text and "lost" in text
    assert f"run {run_uuid} param 'p0':" in text and "-> 'changed'" in text
    assert "2 difference(s)" in failed.value.reason
    assert details["counts_after"]["metric points"] == details["counts_before"]["metric points"] - 1


def test_the_schema_comparison_catches_an_index_dropped_from_a_migrated_store(sqlite_run, tmp_path):
    """mlflow #14465's kind of break: a store whose index was never migrated reads back equal, but its
    schema is not a fresh store's. The real inspector in the 3.17.2 store env names the missing index."""
    cell_dir = Path(cell(sqlite_run, "sqlite").cell_dir)
    store = tmp_path / "migrated.db"
    shutil.copy2(cell_dir / "store" / "fresh.db", store)  # what 3.17.2 itself made
    with sqlite3.connect(store) as db:
        index, table = db.execute("SELECT name, tbl_name FROM sqlite_master WHERE type = 'index' AND "
                                  "tbl_name = 'metrics' AND sql IS NOT NULL LIMIT 1").fetchone()  # fmt: skip
        db.execute(f'DROP INDEX "{index}"')
    target = storeupgrade.store_venv(type("L", (), {"name": "3.17.2"})())
    out = tmp_path / "schema.json"
    read = subprocess.run([str(target / "bin" / "python"), str(paths.INENV / "schema.py"), f"sqlite:///{store}",
                           str(out)], capture_output=True, text=True)  # fmt: skip
    assert read.returncode == 0, read.stderr
    fresh = json.loads((cell_dir / "logs" / "schema-fresh.json").read_text())
    found = schemadiff.differences(json.loads(out.read_text()), fresh)
    assert len(found) == 1 and found[0].startswith(f"{table}: index ") and "missing" in found[0], found


SEED_SERVING = """label: "1.2.SBD.0"
tracking:
  kind: filestore
  at: generated
  server:
    host: mlflow.sbd.internal
serving:
  env: {GUNICORN_CMD_ARGS: "--workers 2"}
"""


def test_file_store_is_migrated_into_sqlite_and_still_serves_the_model(tmp_path):
    """The seed's production (envs/production.yaml's, its models served with GUNICORN_CMD_ARGS workers as many
    1.x deployments set them): the store moved, production's tracking server and model servers as they run."""
    declared = tmp_path / "production.yaml"
    declared.write_text(SEED_SERVING)
    run = tmp_path / "run"
    done = validate("store-upgrade-3.17.2(filestore)", run, ROLLOUT_PRODUCTION=str(declared))
    assert done.returncode == 0, done.stdout[-4000:]
    result = cell(run, "filestore")
    stages = statuses(result)
    # written-down changes: 1.x file stores keep `active` in a deleted experiment's meta.yaml
    assert stages["to-read"] == XFAIL and stages["migrated-snapshot"] == XFAIL, stages
    reasons = {s.stage: s.reason for s in result.stages}
    assert "'lifecycle_stage': 'deleted' -> 'active'" in reasons["migrated-snapshot"]
    assert stages["migrate"] == PASS and result.upgrade["migrated"] == "sqlite"
    assert stages["to-tracking"] == PASS and stages["to-serve"] == PASS, stages  # runs:/ from the migrated store
    # 3.17.2 refuses the 1.2 file store: its own break (configuration), the store then read with the setting
    breaks = {b["entry"]["kind"]: b for b in next(s for s in result.stages if s.stage == "to-read").details["breaks"]}
    assert set(breaks) == {"configuration", "data-repair"}, breaks  # the deleted experiment is really seen too
    assert "maintenance mode" in breaks["configuration"]["seen"] and "MLFLOW_ALLOW_FILE_STORE" in reasons["to-read"]
    made = decision.decide([result])
    settings = {f.remedy.split(": ", 2)[1][:12]: f for f in made.findings if f.kind == "configuration change"}
    setting = settings["3.x opens a "]
    assert "MLFLOW_ALLOW_FILE_STORE=true" in setting.remedy and "migrate-filestore" in setting.remedy
    assert setting.proof and "with MLFLOW_ALLOW_FILE_STORE=true" in setting.proof and "migrate" in setting.proof
    # production's tracking server (envs/production.yaml: the seed's clients reach it as mlflow.sbd.internal)
    assert stages["from-tracking-server"] == PASS, reasons["from-tracking-server"]  # production's baseline
    assert "as mlflow.sbd.internal" in reasons["from-tracking-server"]
    # 3.17.2 refuses that name: the option proven by the same server told it, with the same client
    assert stages["to-tracking-server"] == XFAIL and "Invalid Host header" in str(
        next(s for s in result.stages if s.stage == "to-tracking-server").details["observed"]
    )
    hosts = settings["3.5 added a "]
    assert "`mlflow server --allowed-hosts mlflow.sbd.internal`" in hosts.remedy
    assert hosts.proof and hosts.proof.startswith("with `--allowed-hosts mlflow.sbd.internal` the 3.17.2 server")
    # the seed's 1.2 clients against it: proxied artifact locations and experiments looked up by name
    assert stages["old-clients"] == XFAIL, reasons["old-clients"]
    artifacts = settings["a tracking s"]
    assert "--default-artifact-root <the folder or bucket" in artifacts.remedy
    assert artifacts.proof and "the 3.17.2 server took 1.2.SBD.0's client" in artifacts.proof
    by_name = settings["2.0 removed "]
    assert by_name.proof and "by experiment id" in by_name.proof and "production's server as" not in by_name.remedy
    # production's model servers: GUNICORN_CMD_ARGS gave 1.2 two workers; 3.17.2 ignores it, `--workers 2` proven
    serve_from = next(s for s in result.stages if s.stage == "from-serve-options")
    serve_to = next(s for s in result.stages if s.stage == "to-serve-options")
    assert serve_from.status == PASS and serve_from.details["workers"] == 2, serve_from.reason
    assert serve_to.status == XFAIL and serve_to.details["workers"] == 1, serve_to.reason
    workers = settings["the model se"]
    assert "`GUNICORN_CMD_ARGS='--workers 2' mlflow models serve -m <model> --workers 2`" in workers.remedy
    assert workers.proof and "started 2 worker process(es), as 1.2.SBD.0 does" in workers.proof
    assert [f.kind for f in made.findings].count("data repair") == 1  # one repair, seen at two stages
    diff = (Path(result.cell_dir) / "logs" / "migrated-snapshot.diff.txt").read_text()
    assert "1 difference(s)" in diff  # that one, nothing else lost or changed
    # the data repair: that experiment deleted again with 3.17.2's CLI on a copy, read back as written
    repair = result.upgrade["repair"]
    assert stages["repair"] == PASS and repair["outcome"] == "proven", repair
    assert repair["experiments"] and "mlflow experiments delete --experiment-id" in repair["commands"][0]
    assert result.status == PASS


@pytest.mark.slow  # the `server` store kind, a second representative beside production's filestore
def test_old_client_trains_against_the_new_tracking_server(tmp_path):
    run = tmp_path / "run"
    done = validate("store-upgrade-3.17.2(client)", run)
    assert done.returncode == 0, done.stdout[-4000:]
    result = cell(run, "client")
    stages = statuses(result)
    assert all(stages[s] == PASS for s in ("tracking-server", "from-train", "to-tracking", "to-serve", "old-server"))
    train = next(s for s in result.stages if s.stage == "from-train")
    assert train.reason.startswith("run ")
    reverse = next(s for s in result.stages if s.stage == "new-client")
    assert reverse.status == XFAIL and "logged-models" in reverse.reason  # documented as unsupported


def database_servers_in(run: Path) -> list[int]:
    """Live `postgres` processes whose data folder is in the run (or the /tmp fallback its WHERE file names:
    not another test's cluster under /tmp), this instant."""
    fallbacks = tuple(w.read_text().splitlines()[0] for w in run.glob("**/store/postgres/WHERE") if w.read_text())
    found = []
    for proc in psutil.process_iter(["name"]):
        try:
            cwd = proc.cwd() if proc.info["name"] == "postgres" else ""
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
        if cwd and cwd.startswith((str(run), *fallbacks)):
            found.append(proc.pid)
    return found


def postmaster(run: Path) -> set[int]:
    """The private cluster's server and its workers, found from the cell folder (postmaster.pid): its
    workers rewrite their environment for their process titles, so the run's variables cannot find them."""
    folders = list(run.glob("store-upgrade-3.17.2/postgresql*/store/postgres"))
    for folder in folders:
        where = folder / "WHERE"  # the /tmp fallback when the postgres user cannot enter the cell folder
        data = Path(where.read_text().splitlines()[0]) / "data" if where.is_file() else folder / "data"
        try:
            pid = int((data / "postmaster.pid").read_text().split()[0])
            server = psutil.Process(pid)
            return {pid} | {c.pid for c in server.children(recursive=True)}
        except (OSError, ValueError, IndexError, psutil.NoSuchProcess):
            continue
    return set()


def test_ctrl_c_during_a_postgresql_check_leaves_no_database_server(tmp_path):
    need_postgres()
    run = tmp_path / "run"
    log = tmp_path / "nox.log"
    with log.open("w") as out:
        nox = subprocess.Popen([NOX, "-s", "store-upgrade-3.17.2(postgresql)"], cwd=ROOT, env=nox_env(run),
                               stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
                               preexec_fn=foreground_job)  # fmt: skip
        deadline = time.monotonic() + 600
        server: set[int] = set()
        while time.monotonic() < deadline and nox.poll() is None and len(server) < 2:
            server = postmaster(run)  # the server and at least one worker
            time.sleep(0.3)
        assert server, log.read_text()[-3000:]
        time.sleep(2)
        server |= postmaster(run)
        os.killpg(nox.pid, signal.SIGINT)
        nox.wait(timeout=180)
    assert nox.returncode != 0
    assert not alive(server), "the PostgreSQL server or a worker survived Ctrl-C"
    assert not ours(run), "a process of the run survived Ctrl-C"
    result = cell(run, "postgresql")
    assert result.status != PASS and any("interrupted" in s.reason for s in result.stages)


AUTH_PRODUCTION = """label: "2.22.5"
tracking:
  kind: filestore
  at: generated
  server:
    host: mlflow.team.internal
    options: [--app-name, basic-auth]
"""


@pytest.mark.slow  # production's server stages run in CI's filestore test; this adds basic auth (2-5 min)
def test_a_basic_auth_server_of_2_22_5_moved_to_3_17_2_reads_its_users_back(tmp_path):
    """Issue 41: production's tracking server with the basic-auth app (ROLLOUT_PRODUCTION: a team's own
    declaration). 2.22.5 writes a user and its permission into the auth database; 3.17.2's server on the same
    database (its own migrations) reads them back and lets that user in; both refuse a request without credentials."""
    declared = tmp_path / "production.yaml"
    declared.write_text(AUTH_PRODUCTION)
    run = tmp_path / "run"
    done = validate("store-upgrade-3.17.2(filestore)", run, ROLLOUT_PRODUCTION=str(declared))
    result = cell(run, "filestore")
    stages, reasons = statuses(result), {s.stage: s.reason for s in result.stages}
    assert result.from_label == "2.22.5", done.stdout[-3000:]
    assert stages["from-tracking-server"] == PASS, reasons["from-tracking-server"]
    assert (
        "basic auth: 401 without credentials, user rolloutcheck-user and its EDIT permission"
        in (reasons["from-tracking-server"])
    )
    for stage in ("to-tracking-server", "old-clients"):  # 3.17.2 reads the user back and lets it in
        assert stages[stage] in (PASS, XFAIL), (stage, reasons[stage])
        auth = next(s for s in result.stages if s.stage == stage).details["auth"]
        assert auth["changed"] == [] and auth["read"]["permission"] == "EDIT", auth
    moved = result.upgrade["auth_migration"]  # moved by 3.17.2's own auth migration before its server started
    assert moved["before"] == {"alembic_version": "8606fa83a998"} and moved["after"].get("alembic_version_auth"), moved
    # what 3.17.2 met: the Host check, and the 2.x permission API gone (read back through the 3.0 one: its proof)
    made = decision.decide([result])
    settings = {f.remedy.split(": ", 2)[1][:12]: f for f in made.findings if f.kind == "configuration change"}
    assert "mlflow server --app-name basic-auth --allowed-hosts mlflow.team.internal" in settings["3.5 added a "].remedy
    api = settings["the basic-au"]
    assert api.proof and "through /api/3.0/mlflow/users/permissions/get: EDIT for rolloutcheck-user" in api.proof
    # the check's own auth database, in the cell: production's is never opened
    assert (Path(result.cell_dir) / "store" / "auth" / "basic_auth.db").is_file()
    commands = "".join(p.read_text() for p in Path(result.cell_dir).glob("logs/*"))
    assert "Rc-" not in commands  # the check's passwords reach processes by environment only, masked in logs
