"""The one redaction: URL passwords and credentials we were given never reach a file the tool writes."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from rolloutcheck.cells import repro
from rolloutcheck.core import procs, secrets
from rolloutcheck.core.atomic import write_atomic
from rolloutcheck.spec.results import CellResult
from rolloutcheck.stores import postgres as pgcluster

PASSWORD = "s3cr3t-Pa55"
URL = f"postgresql://postgres:{PASSWORD}@127.0.0.1:5432/postgres"


@pytest.fixture
def given_url(monkeypatch):
    monkeypatch.setenv("ROLLOUT_POSTGRES_URL", URL)
    return URL


def test_split_password_keeps_everything_else():
    assert secrets.split_password(URL) == ("postgresql://postgres@127.0.0.1:5432/postgres", PASSWORD)
    assert secrets.split_password("postgresql://u:p%40ss@db/x") == ("postgresql://u@db/x", "p@ss")
    assert secrets.split_password("sqlite:////tmp/mlflow.db") == ("sqlite:////tmp/mlflow.db", None)


def test_redact_masks_url_passwords_and_known_values_only():
    text = f"connect {URL} and git+https://github.com/x/y and http://127.0.0.1:5000/ping; echo {PASSWORD}"
    shown = secrets.redact(text, {PASSWORD})
    assert PASSWORD not in shown
    assert "postgresql://postgres:***@127.0.0.1:5432/postgres" in shown
    assert "git+https://github.com/x/y" in shown and "http://127.0.0.1:5000/ping" in shown
    assert secrets.redact(shown, {PASSWORD}) == shown  # idempotent
    assert pgcluster.shown("postgresql://u@127.0.0.1:5/x") == "postgresql://u@127.0.0.1:5/x"


def test_known_secrets_come_from_credential_variables_and_given_urls():
    found = secrets.known({"ROLLOUT_STORE_COPY": "postgresql://a:p%2Fw0rd@h/db", "PGPASSWORD": "other-one",
                           "MY_API_KEY": "k3y-value", "PATH": "/usr/bin", "SHORT_TOKEN": "x",
                           "HF_HUB_DISABLE_IMPLICIT_TOKEN": "true", "SOME_AUTH_TIMEOUT": "123456"})  # fmt: skip
    assert found == {"p/w0rd", "p%2Fw0rd", "other-one", "k3y-value"}


def test_every_writer_of_the_tool_redacts(given_url, tmp_path):
    target = write_atomic(tmp_path / "cell.json", json.dumps({"reason": f"failed on {URL}", "pw": PASSWORD}))
    assert PASSWORD not in target.read_text()
    log = tmp_path / "logs" / "x.log"
    code, lines = procs.run_logged(["echo", f"uri {URL}"], log)  # the command line and its output
    assert code == 0 and PASSWORD not in " ".join(lines)
    assert log.read_text().startswith("$ echo 'uri postgresql://postgres:***@")


def test_scrub_removes_what_processes_wrote_and_keeps_binary_offsets(given_url, tmp_path):
    (tmp_path / "logs").mkdir()
    (tmp_path / "logs" / "server.log").write_text(f"FATAL: password {PASSWORD} rejected\n")
    (tmp_path / "blob.bin").write_bytes(b"\xff\x00" + PASSWORD.encode() + b"\xfe")
    (tmp_path / "clean.txt").write_text("nothing here\n")
    changed = secrets.scrub(tmp_path)
    assert sorted(p.name for p in changed) == ["blob.bin", "server.log"]
    assert (tmp_path / "logs" / "server.log").read_text() == "FATAL: password *** rejected\n"
    assert (tmp_path / "blob.bin").read_bytes() == b"\xff\x00" + b"*" * len(PASSWORD) + b"\xfe"
    assert not any(PASSWORD.encode() in p.read_bytes() for p in tmp_path.rglob("*") if p.is_file())


def test_recorded_launches_and_repro_ask_for_the_password_instead_of_holding_it(given_url, tmp_path):
    cell_dir = tmp_path / "cell"
    (cell_dir / "logs").mkdir(parents=True)
    env = {**os.environ, "PGPASSWORD": PASSWORD, "MLFLOW_TRACKING_URI": "postgresql://postgres@127.0.0.1:5/db"}
    procs.record_launch(cell_dir / "logs" / procs.COMMANDS_FILE, ["/env/bin/mlflow", "run", URL], env, cell_dir,
                        "from-train")  # fmt: skip
    recorded = (cell_dir / "logs" / procs.COMMANDS_FILE).read_text()
    assert PASSWORD not in recorded and json.loads(recorded)["env"]["PGPASSWORD"] == secrets.MASK
    script = repro.script(CellResult("3.17.2", "postgresql", str(cell_dir), kind="store-upgrade"))
    assert PASSWORD not in script
    assert 'export PGPASSWORD="${PGPASSWORD:?set PGPASSWORD' in script
    assert "export MLFLOW_TRACKING_URI=postgresql://postgres@127.0.0.1:5/db" in script


def test_a_database_given_with_a_password_connects_by_environment(tmp_path):
    copy = pgcluster.given(f"postgresql://postgres:{PASSWORD}@127.0.0.1:5/prodcopy", tmp_path / "store.log")
    assert PASSWORD not in copy.url + copy.admin_url and copy.env == {"PGPASSWORD": PASSWORD}
    assert copy.url == "postgresql://postgres@127.0.0.1:5/prodcopy" and not copy.drop
    with pytest.raises(pgcluster.PostgresError, match=r"postgres:\*\*\*@127.0.0.1:5 names no database"):
        pgcluster.given(f"postgresql://postgres:{PASSWORD}@127.0.0.1:5", Path("x.log"))


def test_a_token_in_a_labels_index_url_is_written_to_no_lock_log(tmp_path, monkeypatch):
    """Issue 44 item 5: `ROLLOUT_INDEX_URL__<label>` with a token went into results/lock-logs in clear. Real uv,
    offline (UV_OFFLINE: it never reaches the made-up index)."""
    from rolloutcheck.envs import locks

    token, user_token = "s3cr3t-index-token", "tok-as-user-123456"
    monkeypatch.setenv("ROLLOUT_INDEX_URL__INTERNAL", f"https://ci:{token}@127.0.0.1:9/simple")
    monkeypatch.setenv("ROLLOUT_INDEX_URL__OTHER", f"https://{user_token}@127.0.0.1:9/simple")
    monkeypatch.setenv("UV_OFFLINE", "1")
    assert {token, user_token} <= secrets.known()
    requirements, constraints = tmp_path / "requirements.in", tmp_path / "constraints.txt"
    requirements.write_text("six\n")
    constraints.write_text("")
    for name in ("INTERNAL", "OTHER"):
        log = tmp_path / f"{name}.log"
        done = locks.compile_requirements(requirements, constraints, "3.11",
                                          os.environ[f"ROLLOUT_INDEX_URL__{name}"], hashes=False, log=log)  # fmt: skip
        assert done.returncode != 0 or done.stdout  # offline: whatever uv made of it, the log is written
        written = log.read_text()
        assert "127.0.0.1:9/simple" in written and token not in written and user_token not in written, written
