"""The conda path, as real as this machine allows.

No conda, mamba or micromamba can be installed here and no conda channel is reachable. So:
conda-lock runs for real; the channel is a local file:// one built inside the test (real conda
archives, indexed by py-rattler); and conda-lock's `--conda` is `standins/rattler_conda.py`,
a stand-in that answers conda's CLI with py-rattler's solver and installer. Tests that use it
say `rattler_standin` in their names.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from rolloutcheck import backends, conda_backend, locks, registry, usecases
from standins.local_channel import make_channel

STANDIN = Path(__file__).parent / "standins" / "rattler_conda.py"


@pytest.fixture
def standin_conda(tmp_path) -> Path:
    """An executable named `conda` that runs the py-rattler stand-in."""
    exe = tmp_path / "bin" / "conda"
    exe.parent.mkdir()
    exe.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{STANDIN}" "$@"\n')
    exe.chmod(exe.stat().st_mode | stat.S_IEXEC)
    return exe


@pytest.fixture
def channel(tmp_path) -> Path:
    return make_channel(
        tmp_path / "channel",
        [("demo-b", "1.0", []), ("demo-b", "2.0", []), ("demo-a", "1.0", ["demo-b >=2"])],
    )


def test_auto_picks_uv_without_a_conda_executable():
    environ = {"PATH": "/nonexistent", "ENV_BACKEND": "auto"}
    assert backends.choose(environ) == backends.Backend("uv")
    assert backends.choose({"PATH": "/nonexistent"}).name == "uv"


def test_forced_conda_without_executable_is_a_clear_error():
    with pytest.raises(backends.BackendError, match="ENV_BACKEND=conda but no conda executable"):
        backends.choose({"PATH": "/nonexistent", "ENV_BACKEND": "conda"})
    with pytest.raises(backends.BackendError, match="not one of auto, uv, conda"):
        backends.choose({"PATH": "/nonexistent", "ENV_BACKEND": "pixi"})


def test_auto_picks_conda_when_found_rattler_standin(standin_conda):
    chosen = backends.choose({"PATH": str(standin_conda.parent), "ENV_BACKEND": "auto"})
    assert chosen == backends.Backend("conda", str(standin_conda))
    assert backends.choose({"PATH": str(standin_conda.parent), "ENV_BACKEND": "uv"}).name == "uv"


def test_derived_environment_file():
    case = usecases.discover()["sklearn_elasticnet_wine"]
    label = registry.load_labels(override=None, environ={})["1.2.SBD.0"]
    env = conda_backend.environment(case, label)
    conda, pip = env["dependencies"][:-1], env["dependencies"][-1]["pip"]
    assert conda[0] == "python=3.11"
    assert "scikit-learn <1.2" in conda and "pandas <2" in conda and "numpy <1.24" in conda
    assert pip[:2] == ["mlflow==1.2.0", "setuptools"]
    assert "protobuf<3.21" in pip  # not a conda dependency of the use case: goes to pip
    assert env["channels"] == ["conda-forge"]


def test_conda_lock_state_follows_inputs(tmp_path, monkeypatch):
    monkeypatch.setattr("rolloutcheck.paths.ENVS", tmp_path)
    case = usecases.discover()["sklearn_elasticnet_wine"]
    label = registry.Label("x", "mlflow==3.17.2")
    assert conda_backend.state(case, label) is locks.LockState.MISSING
    env_file, lock_file = conda_backend.files(case.name, "x")
    conda_backend.write_environment(case, label, env_file)
    lock_file.write_text("version: 1\n")
    assert conda_backend.state(case, label) is locks.LockState.FRESH
    changed = registry.Label("x", "mlflow==3.17.2", constraints=("pandas<3",))
    assert conda_backend.state(case, changed) is locks.LockState.STALE


def test_conda_lock_and_install_from_local_channel_rattler_standin(tmp_path, channel, standin_conda):
    """Real conda-lock locks a generated environment against a local channel, then installs it."""
    env_file = tmp_path / "environment.yaml"
    env_file.write_text(yaml.safe_dump({"name": "demo", "channels": [channel.as_uri()], "dependencies": ["demo-a"]}))
    lock_file = conda_backend.lock_environment(env_file, tmp_path / "conda-lock.yml", str(standin_conda),
                                               tmp_path / "lock.log")  # fmt: skip
    locked = {p["name"]: p for p in yaml.safe_load(lock_file.read_text())["package"]}
    assert locked["demo-a"]["version"] == "1.0"
    assert locked["demo-b"]["version"] == "2.0"  # the solver honoured `demo-b >=2`
    assert locked["demo-b"]["url"].startswith(channel.as_uri())
    assert locked["demo-b"]["hash"]["sha256"]

    prefix = tmp_path / "prefix"
    assert conda_backend.install(lock_file, prefix, str(standin_conda), tmp_path / "env.log") is True
    assert (prefix / "share" / "demo-b" / "VERSION").read_text() == "2.0\n"
    assert (prefix / "conda-meta" / "demo-a-1.0-0.json").is_file()
    # an unchanged lock reuses the environment
    assert conda_backend.install(lock_file, prefix, str(standin_conda), tmp_path / "env.log") is False


def test_unsatisfiable_conda_environment_is_a_lock_error_rattler_standin(tmp_path, channel, standin_conda):
    env_file = tmp_path / "environment.yaml"
    env_file.write_text(yaml.safe_dump({"channels": [channel.as_uri()], "dependencies": ["demo-b >=3"]}))
    with pytest.raises(locks.LockError, match="conda-lock failed") as error:
        conda_backend.lock_environment(env_file, tmp_path / "conda-lock.yml", str(standin_conda), tmp_path / "l.log")
    assert Path(error.value.log).is_file()


def test_forced_conda_fails_the_env_stage_of_a_real_session(tmp_path):
    """ENV_BACKEND=conda on this machine: the cell ends at env with the reason, no traceback."""
    root = Path(__file__).resolve().parents[1]
    run = tmp_path / "run"
    environ = {**os.environ, "ENV_BACKEND": "conda", "ROLLOUT_RUN_DIR": str(run)}
    environ["PATH"] = os.pathsep.join(p for p in environ["PATH"].split(os.pathsep) if "conda" not in p)
    done = subprocess.run(
        [str(Path(sys.executable).with_name("nox")), "-s", "validate-3.17.2(sklearn_elasticnet_wine)"],
        cwd=root, env=environ, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode != 0
    assert "Traceback" not in done.stdout + done.stderr
    assert "FAIL env: ENV_BACKEND=conda but no conda executable" in done.stdout
