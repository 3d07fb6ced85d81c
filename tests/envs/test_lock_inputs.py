"""What a lock is computed from: mlflow versions read off requirements, extra requirements per
mlflow version, and local wheels counted by their content (real files, real uv)."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest
from packaging.version import Version

from rolloutcheck.core import paths
from rolloutcheck.envs import locks
from rolloutcheck.envs import spec as envspec
from rolloutcheck.inputs import registry, usecases
from rolloutcheck.inputs.usecases import UseCase
from wheels import make_wheel


def write_case(root: Path, name: str, pip: list[str] = (), by_mlflow: dict | None = None) -> UseCase:
    folder = root / name
    folder.mkdir(parents=True)
    lines = ["dependencies:", "  - python=3.11", *(["  - pip:", *[f"      - {p}" for p in pip]] if pip else [])]
    (folder / "conda.yaml").write_text("\n".join(lines) + "\n")
    (folder / "MLproject").write_text(f"name: {name}\n")
    spec = "flavor: sklearn\nmetrics: []\n"
    if by_mlflow:
        spec += "requirements_by_mlflow:\n" + "".join(f'  "{k}": {v}\n' for k, v in by_mlflow.items())
    (folder / "usecase.yaml").write_text(spec)
    return usecases.load(folder)


@pytest.mark.parametrize(
    "requirement, version",
    [
        ("mlflow @ https://host/simple/mlflow/mlflow-1.2.0%2Bsbd.0-py3-none-any.whl", "1.2.0+sbd.0"),
        ("/w/mlflow-1.2.0+sbd.0-py3-none-any.whl", "1.2.0+sbd.0"),
        ("mlflow==1.2.0+sbd.0", "1.2.0+sbd.0"),
        ("mlflow @ file:///w/mlflow-2.0.0rc0-py3-none-any.whl", "2.0.0rc0"),
        ("mlflow @ https://host/mlflow-2.1.0.tar.gz#sha256=00", "2.1.0"),
        ("dist/mlflow-3.0.0.dev1-py3-none-any.whl", "3.0.0.dev1"),
        ("mlflow-1.30.1-py3-none-any.whl", "1.30.1"),
    ],
)
def test_mlflow_version_of_pins_paths_and_urls(requirement, version):
    assert envspec.mlflow_version_of(requirement) == Version(version)


@pytest.mark.parametrize(
    "requirement", ["mlflow>=2", "mlflow @ https://host/download?id=3", "mlflow @ https://host/mlflow-latest.whl"]
)
def test_mlflow_version_that_cannot_be_read_is_none(requirement):
    assert envspec.mlflow_version_of(requirement) is None


def test_extra_requirements_by_mlflow_match_on_the_release(tmp_path):
    """`2.0.0rc0` is 2.0.0 (the `>=2` extras, not `<2`); `1.2.0+sbd.0` and `1.9.0rc1` are below 2."""
    case = write_case(tmp_path, "tf", by_mlflow={"<2": ["old-extra==1"], ">=2": ["new-extra==1"]})
    wheel = make_wheel(tmp_path / "dist" / "mlflow-2.0.0rc0-py3-none-any.whl", "rc0")
    wanted = {
        "mlflow==2.0.0rc0": "new-extra==1",
        "mlflow==2.0.0.dev1": "new-extra==1",
        f"mlflow @ {wheel.as_uri()}": "new-extra==1",
        "mlflow==1.9.0rc1": "old-extra==1",
        "mlflow==1.2.0+sbd.0": "old-extra==1",
        "mlflow @ https://host/mlflow-1.2.0%2Bsbd.0-py3-none-any.whl": "old-extra==1",
    }
    for mlflow, extra in wanted.items():
        inputs = envspec.lock_inputs(case, registry.Label("t", mlflow))
        assert [r for r in inputs.requirements if r.endswith("-extra==1")] == [extra], mlflow


@pytest.mark.parametrize("form", ["absolute", "relative", "name @ path", "name @ file URL", "sdist"])
def test_digest_covers_the_content_of_a_local_file(tmp_path, monkeypatch, form):
    monkeypatch.chdir(tmp_path)
    case = write_case(tmp_path, "bare")
    archive = tmp_path / "dist" / ("mlflow-2.0.0.tar.gz" if form == "sdist" else "mlflow-2.0.0-py3-none-any.whl")
    archive.parent.mkdir()
    archive.write_bytes(b"first build")
    requirement = {
        "absolute": str(archive),
        "relative": f"dist/{archive.name}",  # relative to the working directory, as uv reads it
        "name @ path": f"mlflow @ {archive}",
        "name @ file URL": f"mlflow @ {archive.as_uri()}",
        "sdist": str(archive),
    }[form]
    inputs = envspec.lock_inputs(case, registry.Label("t", requirement))
    before = inputs.digest()
    assert inputs.digest() == before
    archive.write_bytes(b"second build, same name")
    assert inputs.digest() != before
    assert envspec.lock_inputs(case, registry.Label("t", requirement)).digest() != before


def test_missing_local_file_is_an_envspec_error_naming_the_requirement(tmp_path):
    case = write_case(tmp_path, "bare")
    missing = tmp_path / "mlflow-2.0.0-py3-none-any.whl"
    for requirement in (str(missing), f"mlflow @ {missing.as_uri()}"):
        with pytest.raises(envspec.EnvSpecError, match=re.escape(repr(requirement))):
            envspec.lock_inputs(case, registry.Label("t", requirement))


def test_rebuilt_wheel_makes_its_lock_stale_real_uv(tmp_path, monkeypatch):
    """The fork's wheel rebuilt under the same name: the lock (which pins the old wheel's hash) is stale."""
    monkeypatch.setattr(paths, "ENVS", tmp_path / "envs")
    case = write_case(tmp_path, "bare")
    wheel = make_wheel(tmp_path / "wheels" / "mlflow-1.2.0+sbd.0-py3-none-any.whl", "build 1")
    label = registry.Label("1.2.SBD.0", str(wheel))
    inputs = envspec.lock_inputs(case, label)
    assert locks.state(inputs) is locks.LockState.MISSING
    lock = locks.lock(inputs, tmp_path / "lock.log")
    assert f"--hash=sha256:{hashlib.sha256(wheel.read_bytes()).hexdigest()}" in lock.read_text()  # uv pins the bytes
    assert locks.state(inputs) is locks.LockState.FRESH

    make_wheel(wheel, "build 2")
    assert locks.state(envspec.lock_inputs(case, label)) is locks.LockState.STALE
    assert locks.state(inputs) is locks.LockState.STALE  # the digest reads the file when asked

    locks.lock(envspec.lock_inputs(case, label), tmp_path / "lock.log")  # the refresh command's effect
    assert locks.state(envspec.lock_inputs(case, label)) is locks.LockState.FRESH
