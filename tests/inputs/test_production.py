"""envs/production.yaml: what production is, validated once (every key, unknown keys refused, one line
naming file and key), and the cells of a rollout derived from it."""

from __future__ import annotations

import pytest

from rolloutcheck import entry
from rolloutcheck.ci.selection import Cell
from rolloutcheck.core.errors import ConfigError
from rolloutcheck.core.settings import Settings
from rolloutcheck.inputs import production, registry

LABELS = {"1.2.SBD.0": None, "3.17.2": None}


def declared(tmp_path, text: str) -> production.Production:
    path = tmp_path / "production.yaml"
    path.write_text(text)
    return production.load(path, LABELS)


def test_the_shipped_declaration_is_the_seeds_production():
    seed = production.load(labels=registry.load_labels())
    assert seed.label == "1.2.SBD.0" and (seed.tracking_kind, seed.tracking_at) == ("filestore", "generated")
    assert seed.store_checks == ("filestore",)  # no MySQL, PostgreSQL, SQLite or server the team never had
    assert seed.owns("sklearn_elasticnet_wine") and seed.owns("h2o_wine")
    # one tracking server its clients reach by name: the shipped rollout checks production's server as it runs
    assert seed.server == production.TrackingServer("mlflow.sbd.internal")
    assert "served by `mlflow server` as mlflow.sbd.internal" in seed.shown


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("label: '9.9'\ntracking: {kind: filestore}\n", "key 'label': '9.9' is not a label of envs/versions.yaml"),
        ("tracking: {kind: filestore}\n", "key 'label': names the version label"),
        ("label: '3.17.2'\n", "key 'tracking': a mapping of kind and at"),
        ("label: '3.17.2'\ntracking: {kind: oracle}\n", "key 'tracking.kind': one of filestore, sqlite"),
        (
            "label: '3.17.2'\ntracking: {kind: sqlite, where: x}\n",
            "key 'where': tracking: unknown key; known: kind, at",
        ),
        ("label: '3.17.2'\ntracking: {kind: sqlite, at: ''}\n", "key 'tracking.at'"),
        ("label: '3.17.2'\ntracking: {kind: sqlite}\nalso_check: [oracle]\n", "key 'also_check': a list of some of"),
        ("label: '3.17.2'\ntracking: {kind: sqlite}\nusecases: [nope]\n", "key 'usecases': 'nope' is no use case"),
        ("label: '3.17.2'\ntracking: {kind: sqlite}\nstores: [mysql]\n", "key 'stores': unknown key; known: label"),
        ("label: [\n", "not valid YAML"),
        ("label: '3.17.2'\ntracking: {kind: sqlite, server: x}\n", "key 'tracking.server': a mapping of host"),
        ("label: '3.17.2'\ntracking: {kind: sqlite, server: {}}\n", "key 'tracking.server.host': the host name"),
        ("label: '3.17.2'\ntracking: {kind: sqlite, server: {host: 'http://a/b'}}\n", "key 'tracking.server.host'"),
        (
            "label: '3.17.2'\ntracking: {kind: sqlite, server: {host: a, port: 80}}\n",
            "key 'port': tracking.server: unknown key; known: host, options, env",
        ),
        (
            "label: '3.17.2'\ntracking: {kind: sqlite, server: {host: a, options: [--port, '80']}}\n",
            "key 'tracking.server.options': --port is set by the check",
        ),
        (
            "label: '3.17.2'\ntracking: {kind: sqlite, server: {host: a, options: '--workers 2'}}\n",
            "key 'tracking.server.options': a list of `mlflow server` options",
        ),
        ("label: '3.17.2'\ntracking: {kind: sqlite, server: {host: a, env: [X]}}\n", "key 'tracking.server.env'"),
        ("label: '3.17.2'\ntracking: {kind: sqlite}\nserving: [-w]\n", "key 'serving': a mapping of options and env"),
        ("label: '3.17.2'\ntracking: {kind: sqlite}\nserving: {options: [-p, '1']}\n", "-p is set by the check"),
        ("label: '3.17.2'\ntracking: {kind: sqlite}\nserving: {workers: 2}\n", "key 'workers': serving: unknown"),
    ],
)
def test_every_key_is_validated_in_one_line_naming_file_and_key(tmp_path, text, problem):
    with pytest.raises(ConfigError) as error:
        declared(tmp_path, text)
    assert str(error.value).startswith(str(tmp_path / "production.yaml")) or "production.yaml" in str(error.value)
    assert problem in str(error.value) and "\n" not in str(error.value), str(error.value)


def test_store_checks_are_productions_kind_and_those_it_asks_for(tmp_path):
    server = declared(tmp_path, "label: '1.2.SBD.0'\ntracking: {kind: server, at: generated}\n")
    assert server.store_checks == ("client",)  # clients reach a server: old clients against the new one
    mysql = declared(tmp_path, "label: '1.2.SBD.0'\ntracking: {kind: mysql, at: 'mysql://u@db/mlflow'}\n"
                     "also_check: [filestore, sqlite]\nusecases: [sklearn_elasticnet_wine]\n")  # fmt: skip
    assert mysql.store_checks == ("sqlite", "mysql", "filestore") and mysql.tracking_at == "mysql://u@db/mlflow"
    assert mysql.owns("sklearn_elasticnet_wine") and not mysql.owns("h2o_wine")


def test_a_rollout_runs_only_the_cells_of_production(tmp_path):
    owned = declared(tmp_path, "label: '1.2.SBD.0'\ntracking: {kind: filestore}\nusecases: [xgboost_adult]\n")
    tool = entry.Tool(Settings.from_environ({"ROLLOUT_RESULTS": str(tmp_path)}), registry.load_labels(), owned)
    cells = [Cell("s", kind, "3.17.2", variant) for kind, variant in [
        ("validate", "xgboost_adult"), ("validate", "h2o_wine"), ("upgrade", "xgboost_adult"),
        ("store-upgrade", "filestore"), ("store-upgrade", "mysql"), ("models", "wine-v1")]]  # fmt: skip
    kept = [(c.kind, c.usecase) for c in cells if entry.production_covers(tool, c)]
    assert kept == [("validate", "xgboost_adult"), ("upgrade", "xgboost_adult"), ("store-upgrade", "filestore"),
                    ("models", "wine-v1")]  # fmt: skip
    assert tool.source == "1.2.SBD.0" and entry.declared(tool).startswith("1.2.SBD.0, filestore tracking store")


def test_versions_yaml_no_longer_declares_production(tmp_path):
    versions = tmp_path / "versions.yaml"
    versions.write_text("production: '1.2.SBD.0'\nlabels:\n  '1.2.SBD.0': {mlflow: mlflow==1.2.0}\n")
    with pytest.raises(registry.RegistryError, match="moved to envs/production.yaml"):
        registry.load_registry(versions)


def test_productions_server_is_declared_with_its_own_options_and_environment(tmp_path):
    text = ("label: '1.2.SBD.0'\ntracking:\n  kind: sqlite\n  at: generated\n  server:\n    host: mlflow.example\n"
            "    options: [--workers, 2, --gunicorn-opts=--timeout=120]\n    env: {MLFLOW_SERVER_X: 1}\n")  # fmt: skip
    server = declared(tmp_path, text).server
    assert server is not None and server.host == "mlflow.example"
    assert server.options == ("--workers", "2", "--gunicorn-opts=--timeout=120") and server.env == (
        ("MLFLOW_SERVER_X", "1"),
    )
    assert server.shown("--allowed-hosts", "mlflow.example") == (
        "mlflow server --workers 2 --gunicorn-opts=--timeout=120 --allowed-hosts mlflow.example"
    )
    assert declared(tmp_path, "label: '1.2.SBD.0'\ntracking: {kind: sqlite}\n").server is None


def test_productions_model_serving_command_is_declared_or_mlflows_defaults(tmp_path):
    text = (
        "label: '1.2.SBD.0'\ntracking: {kind: sqlite}\nserving:\n  env: {GUNICORN_CMD_ARGS: --workers 2 --timeout 90}\n"
    )
    serving = declared(tmp_path, text).serving
    assert serving.env == (("GUNICORN_CMD_ARGS", "--workers 2 --timeout 90"),) and serving.options == ()
    assert serving.shown("--workers", "2") == (
        "GUNICORN_CMD_ARGS='--workers 2 --timeout 90' mlflow models serve -m <model> --workers 2"
    )
    assert declared(tmp_path, "label: '1.2.SBD.0'\ntracking: {kind: sqlite}\n").serving == production.ModelServing()
