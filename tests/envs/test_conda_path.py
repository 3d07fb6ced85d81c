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

from rolloutcheck.core import paths
from rolloutcheck.envs import backends, locks
from rolloutcheck.envs import conda as conda_backend
from rolloutcheck.envs import install as environment
from rolloutcheck.envs import marker as envmark
from rolloutcheck.inputs import registry, usecases
from standins.local_channel import make_channel

STANDIN = Path(__file__).parents[1] / "standins" / "rattler_conda.py"


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
    assert backends.choose("auto", {"PATH": "/nonexistent"}).name == "uv"


def test_forced_conda_without_executable_is_a_clear_error():
    with pytest.raises(backends.BackendError, match="ENV_BACKEND=conda but no conda executable"):
        backends.choose("conda", {"PATH": "/nonexistent"})
    with pytest.raises(backends.BackendError, match="not one of auto, uv, conda"):
        backends.choose("pixi", {"PATH": "/nonexistent"})


def test_auto_picks_conda_when_found_rattler_standin(standin_conda):
    chosen = backends.choose("auto", {"PATH": str(standin_conda.parent)})
    assert (chosen.name, chosen.executable) == ("conda", str(standin_conda))
    assert backends.choose("uv", {"PATH": str(standin_conda.parent)}).name == "uv"


def test_derived_environment_file():
    case = usecases.discover()["sklearn_elasticnet_wine"]
    label = registry.load_labels(paths.VERSIONS_FILE, override=None, environ={})["1.2.SBD.0"]
    env = conda_backend.environment(case, label)
    conda, pip = env["dependencies"][:-1], env["dependencies"][-1]["pip"]
    assert conda[0] == "python=3.11"
    assert "scikit-learn <1.2" in conda and "pandas <2" in conda and "numpy <1.24" in conda
    assert pip[:2] == ["mlflow==1.2.0", "setuptools"]
    assert "protobuf<3.21" in pip  # not a conda dependency of the use case: goes to pip
    assert env["channels"] == ["conda-forge"]
    assert "pip-repositories" not in env  # the label has no index_url


def test_a_python_env_project_becomes_a_conda_environment_with_its_python_and_pip_requirements():
    """conda-lock needs an environment.yaml: a python_env.yaml project gives its Python to conda and
    its requirements (the `-r requirements.txt` ones) to `pip:`."""
    case = usecases.discover()["team_churn_pyenv"]
    label = registry.load_labels(paths.VERSIONS_FILE, override=None, environ={})["1.30.1"]
    env = conda_backend.environment(case, label)
    conda, pip = env["dependencies"][:-1], env["dependencies"][-1]["pip"]
    assert conda == ["python=3.8"]
    assert pip[:3] == ["pip", "scikit-learn", "pandas"] and "mlflow==1.30.1" in pip
    assert "scikit-learn<1.2" in pip and "pandas<2" in pip  # the label's constraints, where conda has none


def test_index_url_is_a_pip_repository_of_the_derived_environment(tmp_path, monkeypatch):
    """conda-lock reads extra pip indexes from `pip-repositories` (a `--extra-index-url` line under
    `pip:` is not a requirement to it); the URL is part of the digest."""
    monkeypatch.setattr(paths, "ENVS", tmp_path)
    case = usecases.discover()["sklearn_elasticnet_wine"]
    plain = registry.Label("x", "mlflow==1.2.0")
    internal = registry.Label("x", "mlflow==1.2.0", index_url="https://pypi.internal/simple")
    env = conda_backend.environment(case, internal)
    assert env["pip-repositories"] == ["https://pypi.internal/simple"]
    assert conda_backend.digest(env) != conda_backend.digest(conda_backend.environment(case, plain))
    env_file, lock_file = conda_backend.files(case.name, "x")
    conda_backend.write_environment(case, plain, env_file)
    lock_file.write_text("version: 1\n")
    assert conda_backend.state(case, plain) is locks.LockState.FRESH
    assert conda_backend.state(case, internal) is locks.LockState.STALE


def test_conda_lock_state_follows_inputs(tmp_path, monkeypatch):
    monkeypatch.setattr("rolloutcheck.core.paths.ENVS", tmp_path)
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
    assert envmark.is_current(prefix, lock_file)  # the one marker both backends write
    # an unchanged lock reuses the environment
    assert conda_backend.install(lock_file, prefix, str(standin_conda), tmp_path / "env.log") is False


@pytest.fixture
def pip_channel(tmp_path) -> Path:
    """A channel with (stand-in) python and pip packages: conda-lock then solves a `pip:` section too."""
    packages = [("python", "3.11.0", []), ("pip", "24.0", []), ("demo-b", "2.0", []), ("demo-a", "1.0", ["demo-b >=2"])]
    return make_channel(tmp_path / "pip-channel", packages)


@pytest.fixture
def pypi_to_conda(tmp_path) -> str:
    """An empty PyPI->conda name mapping: conda-lock's default one is on GitHub, unreachable here."""
    lookup = tmp_path / "pypi-to-conda.json"
    lookup.write_text("{}")
    return str(lookup)


def conda_case(root: Path, channel: Path, dependencies: list[str]) -> usecases.UseCase:
    folder = root / "demo"
    folder.mkdir(parents=True, exist_ok=True)
    conda = {"channels": [channel.as_uri()], "dependencies": ["python=3.11", *dependencies]}
    (folder / "conda.yaml").write_text(yaml.safe_dump(conda))
    (folder / "MLproject").write_text("name: demo\n")
    (folder / "usecase.yaml").write_text("flavor: sklearn\n")
    return usecases.load(folder)


def test_failed_relock_leaves_the_previous_lock_untouched_rattler_standin(
    tmp_path, monkeypatch, pip_channel, pypi_to_conda, standin_conda
):
    """Real conda-lock (conda part on the stand-in, pip part from PyPI through `pip-repositories`):
    a lock that succeeds replaces both files; a relock that fails leaves them byte for byte, stale."""
    monkeypatch.setattr(paths, "ENVS", tmp_path / "envs")
    case = conda_case(tmp_path / "usecases", pip_channel, ["demo-a"])
    label = registry.Label("t", "six==1.16.0", index_url="https://pypi.org/simple")
    lock = conda_backend.lock(
        case, label, str(standin_conda), tmp_path / "lock.log", pypi_to_conda_lookup=pypi_to_conda
    )
    env_file = lock.with_name("environment.yaml")
    assert sorted(p.name for p in lock.parent.iterdir()) == ["conda-lock.yml", "environment.yaml"]  # no temporaries
    content = yaml.safe_load(lock.read_text())
    assert content["metadata"]["sources"] == ["environment.yaml"]  # locked from the file beside it
    locked = {p["name"]: p for p in content["package"]}
    assert locked["demo-b"]["version"] == "2.0"
    assert (locked["six"]["manager"], locked["six"]["version"]) == ("pip", "1.16.0")
    assert yaml.safe_load(env_file.read_text())["pip-repositories"] == ["https://pypi.org/simple"]
    assert conda_backend.state(case, label) is locks.LockState.FRESH

    before = {path: path.read_bytes() for path in (env_file, lock)}
    case = conda_case(tmp_path / "usecases", pip_channel, ["demo-b >=3"])  # the use case now wants what is not there
    assert conda_backend.state(case, label) is locks.LockState.STALE
    with pytest.raises(locks.LockError, match="conda-lock failed"):
        conda_backend.lock(case, label, str(standin_conda), tmp_path / "lock.log", pypi_to_conda_lookup=pypi_to_conda)
    assert {path: path.read_bytes() for path in (env_file, lock)} == before
    assert conda_backend.state(case, label) is locks.LockState.STALE  # not made to look fresh
    assert sorted(p.name for p in lock.parent.iterdir()) == ["conda-lock.yml", "environment.yaml"]


def test_env_marker_names_the_lock_content(tmp_path):
    prefix, lock = tmp_path / "env", tmp_path / "lock"
    prefix.mkdir()
    lock.write_text("lock one\n")
    assert not envmark.is_current(prefix, lock)
    envmark.record(prefix, lock)
    assert envmark.is_current(prefix, lock)
    assert [p.name for p in prefix.iterdir()] == [envmark.MARK]  # written through a temporary file, renamed
    lock.write_text("lock two\n")
    assert not envmark.is_current(prefix, lock)
    envmark.record(prefix, lock)
    assert envmark.is_current(prefix, lock)
    envmark.clear(prefix)
    envmark.clear(prefix)
    assert not envmark.is_current(prefix, lock) and not any(prefix.iterdir())


def test_uv_env_reuse_needs_the_marker_and_mlflow(tmp_path):
    venv, lock = tmp_path / "venv", tmp_path / "requirements.lock"
    (venv / "bin").mkdir(parents=True)
    lock.write_text("six==1.16.0\n")
    envmark.record(venv, lock)
    assert not environment.is_current(venv, lock)  # marked, but mlflow's entry point is gone
    (venv / "bin" / "mlflow").write_text("")
    assert environment.is_current(venv, lock)
    assert environment.sync(venv, lock, tmp_path / "env.log") is False  # reused: uv never ran
    assert not (tmp_path / "env.log").exists()


def test_unsatisfiable_conda_environment_is_a_lock_error_rattler_standin(tmp_path, channel, standin_conda):
    env_file = tmp_path / "environment.yaml"
    env_file.write_text(yaml.safe_dump({"channels": [channel.as_uri()], "dependencies": ["demo-b >=3"]}))
    with pytest.raises(locks.LockError, match="conda-lock failed") as error:
        conda_backend.lock_environment(env_file, tmp_path / "conda-lock.yml", str(standin_conda), tmp_path / "l.log")
    assert Path(error.value.log).is_file()


def test_forced_conda_fails_the_lock_stage_of_a_real_session(tmp_path):
    """ENV_BACKEND=conda on this machine: the cell ends at its first backend stage (lock) with the reason."""
    root = Path(__file__).resolve().parents[2]
    run = tmp_path / "run"
    environ = {**os.environ, "ENV_BACKEND": "conda", "ROLLOUT_RUN_DIR": str(run)}
    environ["PATH"] = os.pathsep.join(p for p in environ["PATH"].split(os.pathsep) if "conda" not in p)
    done = subprocess.run(
        [str(Path(sys.executable).with_name("nox")), "-s", "validate-3.17.2(sklearn_elasticnet_wine)"],
        cwd=root, env=environ, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode != 0
    assert "Traceback" not in done.stdout + done.stderr
    assert "FAIL lock: ENV_BACKEND=conda but no conda executable" in done.stdout
