"""The seed's step: one requirements.txt per label from all use cases (real files, real uv)."""

from pathlib import Path

from rolloutcheck import merged_requirements, paths, registry, usecases
from rolloutcheck.usecases import UseCase


def write_case(root: Path, name: str, conda: list, pip: list) -> UseCase:
    folder = root / name
    folder.mkdir(parents=True)
    lines = ["dependencies:", "  - python=3.11", *[f"  - {c}" for c in conda], "  - pip:"]
    lines += [f"      - {p}" for p in pip]
    (folder / "conda.yaml").write_text("\n".join(lines) + "\n")
    (folder / "MLproject").write_text("name: x\n")
    (folder / "usecase.yaml").write_text("flavor: sklearn\nmetrics: []\n")
    return usecases.load(folder)


def test_shipped_use_cases_merge_for_every_label(tmp_path):
    cases = usecases.discover()
    for label in registry.load_labels(override=None, environ={}).values():
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
    assert merged_requirements.resolve(merged, label) is None  # real uv: it resolves


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
