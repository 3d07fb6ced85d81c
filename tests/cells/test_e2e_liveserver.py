"""Production's models read from its live tracking server, for real: mlflow 2.22.5's `mlflow server` with its
artifact proxy (`--artifacts-destination`: the models' files are `mlflow-artifacts:` URIs) and the basic-auth
app, started and stopped here, written by 2.22.5's own client. The tool reads it with production's own mlflow
(the 2.22.5 reader environment), the credentials only from mlflow's variables: the server's files are the same
byte for byte afterwards, and the password is in no file the tool wrote."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import requests
from prodstores import fixture_env, production_store

from rolloutcheck.core import net
from rolloutcheck.envs.reader import reader_env
from rolloutcheck.inputs import modelselect, registry
from rolloutcheck.spec.results import PASS, CellResult
from rolloutcheck.stores import production
from sessions import NOX, ROOT, nox_env, ours

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(1800)]

USER, PASSWORD = "admin", "rolloutcheck-Adm1n-pw"  # the auth app's admin, set in its own config file
AUTH_CONFIG = """[mlflow]
default_permission = READ
database_uri = sqlite:///basic_auth.db
admin_username = {user}
admin_password = {password}
authorization_function = mlflow.server.auth:authenticate_request_basic_auth
"""


@contextmanager
def live_server(root: Path) -> Iterator[str]:
    """A 2.22.5 tracking server with the artifact proxy and basic auth on 127.0.0.1; stopped, whole group, after."""
    venv = fixture_env("2.22.5")
    root.mkdir(parents=True)
    (root / "auth.ini").write_text(AUTH_CONFIG.format(user=USER, password=PASSWORD))
    port = net.free_port()
    command = [str(venv / "bin" / "mlflow"), "server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
               "--backend-store-uri", f"sqlite:///{root / 'mlflow.db'}", "--artifacts-destination",
               str(root / "artifacts"), "--app-name", "basic-auth"]  # fmt: skip
    environ = {
        "PATH": f"{venv / 'bin'}:/usr/bin:/bin",
        "HOME": str(root),
        "MLFLOW_AUTH_CONFIG_PATH": str(root / "auth.ini"),
        "MLFLOW_FLASK_SERVER_SECRET_KEY": "rolloutcheck-test-csrf-key",  # the auth app's CSRF protection
    }
    with (root / "server.log").open("w") as log:
        server = subprocess.Popen(command, cwd=root, env=environ, stdout=log, stderr=subprocess.STDOUT,
                                  start_new_session=True)  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline and server.poll() is None:
            try:
                if requests.get(f"{url}/health", timeout=2, proxies={"http": "", "https": ""}).status_code == 200:
                    break
            except requests.RequestException:
                pass
            time.sleep(0.5)
        else:
            pytest.fail(f"the 2.22.5 tracking server did not start: {(root / 'server.log').read_text()[-2000:]}")
        yield url
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=60)


def digest(folder: Path) -> dict[str, str]:
    """Every file of the server (its database, the auth database, the artifacts), hashed."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file() and p.name != "server.log"}  # fmt: skip


def test_a_live_server_with_basic_auth_and_proxied_artifacts_is_read_only_through_productions_client(
    tmp_path, monkeypatch
):
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", USER)
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", PASSWORD)
    with live_server(tmp_path / "server") as url:
        production_store("2.22.5", tmp_path / "writer", tracking_uri=url, kind="server")
        before = digest(tmp_path / "server")
        assert any(name.startswith("artifacts/") for name in before)  # the model's files went through the proxy

        # what nox lists: production's own registry, read by 2.22.5 (ROLLOUT_FROM), selected by envs/models.yaml
        run = tmp_path / "run"
        listed = subprocess.run([NOX, "-l"], cwd=ROOT, capture_output=True, text=True, timeout=900,
                                env=nox_env(run, ROLLOUT_MODELS_FROM=url, ROLLOUT_FROM="2.22.5"))  # fmt: skip
        assert "models-3.17.2(wine-elasticnet-v1)" in listed.stdout, listed.stdout[-2000:] + listed.stderr[-2000:]

        reader = reader_env(registry.load_labels()["2.22.5"])
        (model,) = production.select(url, modelselect.load(), reader)[0]
        assert model.registered["stage"] == "Production" and model.registered["aliases"] == ["champion"]
        assert model.usecase == "sklearn_elasticnet_wine" and model.remote == "models:/wine-elasticnet/1"
        assert model.registered["source"] == f"runs:/{model.run_id}/model"  # its files behind the artifact proxy
        fetched = production.fetch(model, url, reader, tmp_path / "model")
        assert (fetched / "MLmodel").is_file() and (fetched / "input_example.json").is_file()

        assert digest(tmp_path / "server") == before  # read only: nothing of production's server changed
        written = [p for p in [*run.rglob("*"), *fetched.rglob("*")] if p.is_file()]
        assert written and not [p for p in written if PASSWORD.encode() in p.read_bytes()]

    # without its credentials the server refuses the reader: one line, and never the password
    monkeypatch.delenv("MLFLOW_TRACKING_PASSWORD")
    with live_server(tmp_path / "again") as url, pytest.raises(production.CopyError) as refused:
        production.select(url, modelselect.load(), reader)
    assert "could not be read by mlflow 2.22.5" in str(refused.value) and "\n" not in str(refused.value)


@pytest.mark.slow  # a models cell through the server: minutes; `make test-all`
def test_a_model_on_a_live_server_is_downloaded_into_its_cell_and_served_by_both_labels(tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", USER)
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", PASSWORD)
    with live_server(tmp_path / "server") as url:
        production_store("2.22.5", tmp_path / "writer", tracking_uri=url, kind="server")
        before = digest(tmp_path / "server")
        run = tmp_path / "run"
        cell = subprocess.run([NOX, "-s", "models-3.17.2(wine-elasticnet-v1)"], cwd=ROOT, capture_output=True,
                              text=True, timeout=1500,
                              env=nox_env(run, ROLLOUT_MODELS_FROM=url, ROLLOUT_FROM="2.22.5"))  # fmt: skip
        assert not ours(run), "a process of the cell survived it"
        result = CellResult.from_json(next(run.glob("models-3.17.2/*/cell.json")).read_text())
        ran = {s.stage: s.status for s in result.stages}
        assert ran["config"] == PASS and ran["from-serve"] == PASS and ran["from-probe"] == PASS, cell.stdout[-3000:]
        assert result.upgrade["model"]["copy"] == "models:/wine-elasticnet/1"
        asked = {p.name: p.status for p in result.probes}
        assert asked["from:logged-input-example"] == PASS and asked["local:logged-input-example"] == PASS, asked
        assert result.status == PASS, ran
        assert digest(tmp_path / "server") == before
        assert not [p for p in run.rglob("*") if p.is_file() and PASSWORD.encode() in p.read_bytes()]
