"""Production's own models for real: stores written by production labels' own clients (tests/fixtures), copied
as a team would, their selected models served by production from their logged requirements and by 3.17.2
both ways, the copy's bytes unchanged, and the decision naming the registered models a break hits."""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from pgserver import password_server, psql
from prodstores import production_store

from rolloutcheck.core import net
from rolloutcheck.core.secrets import split_password
from rolloutcheck.spec.results import FAIL, FINDING, PASS, XFAIL, CellResult
from sessions import NOX, ROOT, copy_repo, nox_env, ours

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(2400)]


def digest(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}  # fmt: skip


def store_copy(tmp_path: Path, label: str) -> Path:
    """A store written by `label`'s client, then copied elsewhere (its recorded artifact paths go stale)."""
    written = production_store(label, tmp_path / "production" / label)
    copied = tmp_path / "copy" / label
    shutil.copytree(written.parent, copied)
    shutil.rmtree(written.parent)  # production's own paths are gone: only the copy can be read
    return copied / written.name


def run_models(
    session: str, run: Path, copy: Path | str, cwd: Path = ROOT, **extra: str
) -> subprocess.CompletedProcess:
    done = subprocess.run([NOX, "-s", session], cwd=cwd, capture_output=True, text=True, timeout=2000,
                          env=nox_env(run, ROLLOUT_MODELS_FROM=str(copy), **extra))  # fmt: skip
    assert not ours(run), "processes survived the session"
    return done


def cells(run: Path) -> dict[str, CellResult]:
    return {p.parent.name: CellResult.from_json(p.read_text()) for p in run.glob("models-*/*/cell.json")}


def statuses(cell: CellResult) -> dict[str, str]:
    return {s.stage: s.status for s in cell.stages}


@pytest.mark.slow  # test_run_only_models_of_a_1_2_store... covers models cells in CI; this adds a 1.30.1 registry
def test_a_1_30_1_registry_upgraded_to_3_17_2_every_model_both_ways(tmp_path):
    copy = store_copy(tmp_path, "1.30.1")
    before = digest(copy.parent)
    run = tmp_path / "run"
    done = run_models("models-3.17.2", run, copy, ROLLOUT_FROM="1.30.1")
    found = cells(run)
    assert set(found) == {"wine-elasticnet-v1", "fraud-rules-v1", "adult-xgb-v1"}, done.stdout[-3000:]
    assert digest(copy.parent) == before  # read, never written
    # the custom pyfunc: served by production from its logged requirements, then by 3.17.2 both ways, same answers
    rules = found["fraud-rules-v1"]
    assert rules.status == PASS and all(s == PASS for s in statuses(rules).values()), done.stdout[-3000:]
    assert rules.upgrade["model"]["registered"]["stage"] == "Production"
    assert {p.name for p in rules.probes} == {f"{b}:logged-input-example" for b in ("from", "local", "model-env")}
    assert "as-is:logged-input-example" in rules.speed and rules.upgrade["model_env"]["mlflow"] == "3.17.2"
    # the sklearn model pickled against numpy 1.x: a finding with the pins shown to work, not a pass
    wine = found["wine-elasticnet-v1"]
    local = next(s for s in wine.stages if s.stage == "local-serve")
    assert local.status == XFAIL and local.reason.startswith(FINDING) and "numpy" in local.reason
    assert any(r["outcome"] == "proven" for r in wine.upgrade["pin_remedies"])
    assert wine.upgrade["usecase"] == "sklearn_elasticnet_wine"  # its stored requests were asked too
    assert any(p.name == "from:seed_pandas_split" and p.status == PASS for p in wine.probes)
    assert found["adult-xgb-v1"].flavor == "xgboost" and found["adult-xgb-v1"].status != FAIL, done.stdout[-3000:]
    # the decision names the registered model the break hits, and the pins as the action
    decided = subprocess.run([NOX, "-s", "decide", "--", str(run)], cwd=ROOT, capture_output=True, text=True,
                             env=nox_env(run), timeout=300)  # fmt: skip
    assert "registered model wine-elasticnet v1 (stage Production)" in decided.stdout
    assert decided.returncode in (1, 10) and "pin " in decided.stdout
    assert "Production's models" in (run / "summary.md").read_text()
    assert 'id="models"' in (run / "report.html").read_text() and "fraud-rules v1" in (run / "report.html").read_text()


def test_run_only_models_of_a_1_2_store_and_a_model_nothing_can_be_asked_of(tmp_path):
    copy = store_copy(tmp_path, "1.2.SBD.0")
    before = digest(copy.parent)
    run = tmp_path / "run"
    done = run_models("models-3.17.2", run, copy)
    found = cells(run)
    assert digest(copy.parent) == before
    assert len(found) == 2, done.stdout[-3000:]  # the run tagged live=false is not selected
    wine = next(c for n, c in found.items() if n.endswith("-model"))
    rules = next(c for n, c in found.items() if n.endswith("-rules"))
    # linked by its run tag: production's stored requests are what it is asked (mlflow 1.2 logs no example)
    assert wine.upgrade["usecase"] == "sklearn_elasticnet_wine" and wine.from_label == "1.2.SBD.0"
    ran = statuses(wine)
    assert all(ran[s] == PASS for s in ("from-lock", "from-env", "from-serve", "from-probe", "to-env")), ran
    assert all(ran[s] in (PASS, XFAIL) for s in ("local-serve", "local-probe", "model-env-serve", "model-env-probe"))
    assert wine.upgrade["model"]["registered"] == {} and wine.upgrade["model"]["run_id"]
    failure = rules.failure()
    assert (rules.status, failure.stage) == (FAIL, "config")
    assert "nothing can be asked" in failure.reason and "rollout.usecase" in failure.reason
    assert "\n" not in failure.reason and done.returncode != 0


def test_a_selection_that_matches_nothing_is_one_line_and_aliases_are_read(tmp_path):
    copy = store_copy(tmp_path, "2.22.5")
    listed = subprocess.run([NOX, "-l"], cwd=ROOT, capture_output=True, text=True, timeout=300,
                            env=nox_env(tmp_path / "run", ROLLOUT_MODELS_FROM=str(copy)))  # fmt: skip
    assert "models-3.17.2(wine-elasticnet-v2)" in listed.stdout  # under alias champion; v1 under none
    assert "wine-elasticnet-v1" not in listed.stdout
    repo = copy_repo(tmp_path / "repo")
    (repo / "envs" / "models.yaml").write_text("select:\n  - experiment: nobody-logs-here\n")
    run = tmp_path / "run"
    done = run_models("models-3.17.2", run, copy, cwd=repo)
    (cell,) = cells(run).values()
    assert (cell.status, cell.failure().stage) == (FAIL, "config")
    assert "selects no model" in cell.failure().reason and done.returncode != 0


def test_a_postgresql_copy_with_a_password_in_its_url_leaves_it_in_no_file(tmp_path):
    """The copy is a database on a server that demands a password; the URL with it is all the tool is given."""
    password = "s3cr3t-models-pw"
    with password_server(password) as admin:
        clean, _ = split_password(admin)
        assert psql(clean, "CREATE DATABASE prodcopy", password).returncode == 0
        url = admin.rsplit("/", 1)[0] + "/prodcopy"
        production_store("1.30.1", tmp_path / "production", tracking_uri=url)
        run = tmp_path / "run"
        done = run_models("models-3.17.2(fraud-rules-v1)", run, url, ROLLOUT_FROM="1.30.1")
        assert cells(run), done.stdout[-2000:] + done.stderr[-2000:]
        (cell,) = cells(run).values()
        assert cell.status == PASS, done.stdout[-3000:]
        assert cell.upgrade["model"]["registered"]["name"] == "fraud-rules"
        leaked = [str(p) for p in run.rglob("*") if p.is_file() and password.encode() in p.read_bytes()]
        assert not leaked and password not in done.stdout + done.stderr


@contextlib.contextmanager
def s3_server(tmp_path: Path):
    """moto's standalone S3 server on 127.0.0.1 (from the tool's environment), stopped after: (endpoint, keys)."""
    import boto3

    port = net.free_port()
    log = (tmp_path / "moto.log").open("wb")
    server = subprocess.Popen([str(Path(sys.executable).with_name("moto_server")), "-H", "127.0.0.1", "-p", str(port)],
                              stdout=log, stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip
    endpoint = f"http://127.0.0.1:{port}"
    keys = {"AWS_ACCESS_KEY_ID": "rolloutcheck", "AWS_SECRET_ACCESS_KEY": "s3-Secret-kept-in-env-only",
            "AWS_DEFAULT_REGION": "us-east-1", "MLFLOW_S3_ENDPOINT_URL": endpoint}  # fmt: skip
    try:
        for _ in range(100):
            try:
                client = boto3.client(
                    "s3",
                    endpoint_url=endpoint,
                    aws_access_key_id=keys["AWS_ACCESS_KEY_ID"],
                    aws_secret_access_key=keys["AWS_SECRET_ACCESS_KEY"],
                    region_name="us-east-1",
                )
                client.create_bucket(Bucket="prod-models")
                break
            except Exception:  # noqa: BLE001 - not listening yet
                time.sleep(0.2)
        yield client, keys
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(10)
        log.close()


def objects(client) -> dict[str, str]:
    return {o["Key"]: o["ETag"] for o in client.list_objects_v2(Bucket="prod-models").get("Contents", [])}


def test_a_model_whose_artifacts_are_in_s3_is_downloaded_with_productions_client_and_checked(tmp_path, monkeypatch):
    """Issue 40: a registered model logged by 1.30.1 into an S3-compatible object store (a real moto server),
    its store copied: read with production's client (boto3 beside it), served by 1.30.1 and by 3.17.2; the
    bucket unchanged, the secret key in no file."""
    with s3_server(tmp_path) as (client, keys):
        for name, value in {**keys, "FIXTURE_KIND": "s3", "FIXTURE_ARTIFACTS": "s3://prod-models/live"}.items():
            monkeypatch.setenv(name, value)
        store = production_store("1.30.1", tmp_path / "production" / "1.30.1")
        for name in ("FIXTURE_KIND", "FIXTURE_ARTIFACTS"):
            monkeypatch.delenv(name)
        before = objects(client)
        assert any(k.endswith("model/MLmodel") for k in before), before  # the model's files are in the bucket only
        run = tmp_path / "run"
        done = run_models("models-3.17.2(wine-elasticnet-v1)", run, store, ROLLOUT_FROM="1.30.1", **keys)
        assert cells(run), done.stdout[-2000:] + done.stderr[-2000:]
        (cell,) = cells(run).values()
        stages = statuses(cell)
        assert stages["from-probe"] == PASS, (cell.failure(), done.stdout[-3000:])  # as production serves it
        assert cell.upgrade["model"]["copy"].startswith("s3://prod-models/live/")
        # 3.17.2 on those same files: what breaks is a finding (scikit-learn 1.1's pickle), and the pins that
        # make it answer as logged are proven on them
        assert stages["to-env"] == PASS and stages["pin-remedy"] == PASS and cell.status == PASS, stages
        assert "proven" in next(s for s in cell.stages if s.stage == "pin-remedy").reason
        assert objects(client) == before  # only read
        secret = keys["AWS_SECRET_ACCESS_KEY"].encode()
        assert not [str(p) for p in run.rglob("*") if p.is_file() and secret in p.read_bytes()]


@pytest.mark.slow  # a second database copy beside the PostgreSQL one above (CI's representative)
def test_a_mysql_copy_is_read_read_only_and_its_model_checked(tmp_path):
    """Issue 40: a MySQL/MariaDB copy of production's store (`ROLLOUT_STORE_COPY` took one, models did not): a
    private MariaDB written by 1.30.1's own client, read by the MariaDB client in a read-only transaction,
    its registered model served by 1.30.1 and 3.17.2; the database's dump unchanged."""
    from rolloutcheck.core import procs
    from rolloutcheck.core.procs import Launch
    from rolloutcheck.stores import mysql

    try:
        mysql.require()
    except mysql.MysqlError as error:
        pytest.skip(f"MariaDB is missing (.ci/run installs it): {error.reason}")
    launch = Launch(dict(os.environ), tmp_path, tmp_path / "server.log", procs.new_marker(), "test")
    database = mysql.private(tmp_path / "mysql", launch)
    try:
        production_store("1.30.1", tmp_path / "production", tracking_uri=database.url)
        before = database.dump(tmp_path / "before.sql").read_text()
        run = tmp_path / "run"
        done = run_models("models-3.17.2(wine-elasticnet-v1)", run, database.url, ROLLOUT_FROM="1.30.1")
        assert cells(run), done.stdout[-2000:] + done.stderr[-2000:]
        (cell,) = cells(run).values()
        assert statuses(cell)["from-probe"] == PASS and cell.status == PASS, (cell.failure(), done.stdout[-3000:])
        registered = cell.upgrade["model"]["registered"]
        assert (registered["name"], registered["version"], registered["stage"]) == (
            "wine-elasticnet",
            "1",
            "Production",
        )
        after = database.dump(tmp_path / "after.sql").read_text()
        strip = lambda dump: [line for line in dump.splitlines() if not line.startswith("-- Dump completed")]  # noqa: E731
        assert strip(after) == strip(before)  # only read
    finally:
        database.stop()
