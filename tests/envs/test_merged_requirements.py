"""The seed's step: one requirements.txt per label from all use cases (real files, real uv)."""

import shlex
from pathlib import Path

from rolloutcheck.core import paths
from rolloutcheck.envs import merged as merged_requirements
from rolloutcheck.inputs import registry, usecases
from rolloutcheck.inputs.usecases import UseCase


def write_case(root: Path, name: str, conda: list, pip: list) -> UseCase:
    folder = root / name
    folder.mkdir(parents=True)
    lines = ["dependencies:", "  - python=3.11", *[f"  - {c}" for c in conda]]
    lines += ["  - pip:", *[f"      - {p}" for p in pip]] if pip else []
    (folder / "conda.yaml").write_text("\n".join(lines) + "\n")
    (folder / "MLproject").write_text("name: x\n")
    (folder / "usecase.yaml").write_text("flavor: sklearn\nmetrics: []\n")
    return usecases.load(folder)


def test_shipped_use_cases_merge_for_every_label(tmp_path):
    cases = usecases.discover()
    for label in registry.load_labels(paths.VERSIONS_FILE, override=None, environ={}).values():
        merged = merged_requirements.merge(label, cases)
        assert merged.conflicts == [], merged.conflicts
        assert label.mlflow in merged.requirements
        assert merged.sources["mlflow"] == sorted(cases)
    target = merged_requirements.write(merged, label, tmp_path)
    text = target.read_text()
    assert text.splitlines()[1] == "-c constraints.txt"
    assert f"{label.mlflow}  # " in text and (tmp_path / "constraints.txt").is_file()


def test_merge_combines_specifiers_and_resolves(tmp_path, monkeypatch):
    monkeypatch.setattr(paths, "ENVS", tmp_path / "envs")
    cases = {
        "a": write_case(tmp_path, "a", ["numpy>=1.20"], ["requests"]),
        "b": write_case(tmp_path, "b", ["numpy<2"], []),
    }
    label = registry.Label("t", "six==1.16.0")
    merged = merged_requirements.merge(label, cases)
    assert merged.conflicts == []
    assert "numpy<2,>=1.20" in merged.requirements
    assert merged.sources["numpy"] == ["a", "b"]
    log = tmp_path / "resolve.log"
    assert merged_requirements.resolve(merged, label, log=log) is None  # real uv: it resolves
    command = shlex.split(log.read_text().splitlines()[0].removeprefix("$ "))  # locks.compile_requirements' log
    assert command[1:3] == ["pip", "compile"] and "--generate-hashes" not in command


def test_conflict_names_the_use_cases(tmp_path, monkeypatch):
    monkeypatch.setattr(paths, "ENVS", tmp_path / "envs")
    cases = {
        "old": write_case(tmp_path, "old", ["numpy=1.23"], []),
        "new": write_case(tmp_path, "new", [], ["numpy>=2"]),
    }
    merged = merged_requirements.merge(registry.Label("t", "six==1.16.0"), cases)
    assert len(merged.conflicts) == 1
    conflict = merged.conflicts[0]
    assert conflict.startswith("numpy: ")
    assert "old wants numpy==1.23.*" in conflict and "new wants numpy>=2" in conflict


def test_resolver_conflict_is_reported(tmp_path, monkeypatch):
    """Compatible by name, impossible together: uv's reason is the conflict."""
    monkeypatch.setattr(paths, "ENVS", tmp_path / "envs")
    cases = {"a": write_case(tmp_path, "a", [], ["mlflow-skinny==3.17.2"])}
    merged = merged_requirements.merge(registry.Label("t", "mlflow==2.22.5"), cases)
    reason = merged_requirements.resolve(merged, registry.Label("t", "mlflow==2.22.5"))
    assert reason and "mlflow" in reason


def test_a_url_requirement_keeps_its_url(tmp_path, monkeypatch):
    """A label pointing mlflow at a build (`mlflow @ file://...`) is merged as that build, not as `mlflow`."""
    monkeypatch.setattr(paths, "ENVS", tmp_path / "envs")
    wheel = tmp_path / "wheels" / "mlflow-1.2.0+sbd.0-py3-none-any.whl"
    wheel.parent.mkdir()
    wheel.write_bytes(b"a fork's wheel")
    label = registry.Label("t", f"mlflow @ {wheel.as_uri()}")
    cases = {"a": write_case(tmp_path, "a", ["numpy"], []), "b": write_case(tmp_path, "b", [], ["requests"])}
    merged = merged_requirements.merge(label, cases)
    assert merged.conflicts == []
    assert label.mlflow in merged.requirements and "mlflow" not in merged.requirements
    assert merged.sources["mlflow"] == ["a", "b"]


def test_merged_set_is_written_as_a_hashed_lock(tmp_path):
    """The seed installs one environment for all use cases: the merged set, resolved with hashes."""
    label = registry.load_labels(paths.VERSIONS_FILE)["3.17.2"]
    merged = merged_requirements.merge(label, usecases.discover())
    lock = tmp_path / "requirements.lock"
    assert merged_requirements.resolve(merged, label, lock_to=lock) is None
    text = lock.read_text()
    assert "mlflow==3.17.2" in text and "--hash=sha256:" in text
    assert "scikit-learn==" in text and "h2o==" in text and "xgboost-cpu==" in text
