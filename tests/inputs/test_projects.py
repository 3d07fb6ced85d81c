"""Teams' projects as they are: the environment file the MLproject names, its Python, its defaults."""

from pathlib import Path

import pytest

from rolloutcheck.core.errors import ConfigError
from rolloutcheck.envs import interpreter
from rolloutcheck.inputs import projects, usecases


def project(tmp_path: Path, mlproject: str, files: dict[str, str] | None = None) -> Path:
    (tmp_path / "MLproject").write_text(mlproject)
    for name, text in (files or {}).items():
        (tmp_path / name).write_text(text)
    return tmp_path


MAIN = (
    "entry_points:\n  main:\n    parameters:\n      alpha: {type: float, default: 0.5}\n      n: int\n    command: x\n"
)


def test_python_env_reads_python_build_dependencies_and_requirements_files(tmp_path):
    folder = project(tmp_path, "python_env: python_env.yaml\n" + MAIN, {
        "python_env.yaml": 'python: "3.8.18"\nbuild_dependencies: [pip]\n'
                           'dependencies: ["-r requirements.txt", pandas]\n',
        "requirements.txt": "# pinned\nscikit-learn==1.0.2  # the team's\n-r more.txt\n",
        "more.txt": "numpy<1.24\n",
    })  # fmt: skip
    loaded = projects.load(folder)
    assert loaded.env.kind == "python_env" and loaded.env.python == "3.8"
    assert loaded.env.pip == ("pip", "scikit-learn==1.0.2", "numpy<1.24", "pandas")
    assert loaded.defaults == {"alpha": 0.5}  # `n` has no default


def test_no_environment_key_follows_mlflows_defaults(tmp_path):
    folder = project(tmp_path, MAIN, {"conda.yaml": "dependencies: [python=3.9, scikit-learn, {pip: [mlflow]}]\n"})
    assert projects.load(folder).env.kind == "conda_env"
    (folder / "python_env.yaml").write_text('python: "3.10"\n')
    assert projects.load(folder).env.kind == "python_env"  # python_env.yaml first, as mlflow 3 looks
    (folder / "python_env.yaml").unlink()
    (folder / "conda.yaml").unlink()
    assert projects.load(folder).env == projects.ProjectEnv("none", None)


@pytest.mark.parametrize(
    "mlproject, message",
    [
        ("docker_env: {image: x}\n", "MLproject: key 'docker_env': docker_env projects need a container engine"),
        ("conda_env: conda.yaml\npython_env: p.yaml\n", "key 'python_env': names conda_env and python_env"),
        ("python_env: missing.yaml\n", "missing.yaml: missing"),
    ],
)
def test_projects_the_tool_cannot_run_fail_in_one_line(tmp_path, mlproject, message):
    with pytest.raises(ConfigError) as error:
        projects.load(project(tmp_path, mlproject + MAIN))
    assert message in str(error.value) and "\n" not in str(error.value)


@pytest.mark.parametrize(
    "text, message",
    [
        ('python: "3.8"\nchannels: [x]\n', "key 'channels': unknown key"),
        ("dependencies: [pandas]\n", "key 'python': must name a Python version"),
        ('python: "3.8"\ndependencies: ["--index-url http://x"]\n', "only requirements and `-r file`"),
        ('python: "3.8"\ndependencies: ["-r nothere.txt"]\n', r"nothere.txt: missing \(named by -r\)"),
    ],
)
def test_a_broken_python_env_names_the_file_and_key(tmp_path, text, message):
    with pytest.raises(ConfigError, match=message):
        projects.load(project(tmp_path, "python_env: python_env.yaml\n" + MAIN, {"python_env.yaml": text}))


def test_usecase_yaml_of_two_lines_takes_the_rest_from_the_project(tmp_path):
    folder = project(tmp_path, "python_env: python_env.yaml\n" + MAIN, {"python_env.yaml": 'python: "3.8"\n'})
    (folder / "usecase.yaml").write_text("flavor: sklearn\ndescription: a team's project\n")
    usecase = usecases.load(folder)
    assert usecase.model_path is None and usecase.metrics == () and usecase.params == {}
    assert usecase.expected_params == {"alpha": 0.5}
    assert usecase.python_for("1.30.1") == "3.8"


def test_python_by_mlflow_moves_the_project_to_another_python(tmp_path):
    folder = project(tmp_path, "python_env: python_env.yaml\n" + MAIN, {"python_env.yaml": 'python: "3.8"\n'})
    (folder / "usecase.yaml").write_text('flavor: sklearn\npython_by_mlflow: {">=2.18": "3.11"}\n')
    usecase = usecases.load(folder)
    assert [usecase.python_for(v) for v in ("1.30.1", "2.22.5", "3.17.2")] == ["3.8", "3.11", "3.11"]
    (folder / "usecase.yaml").write_text('flavor: sklearn\npython_by_mlflow: {">=2": "latest"}\n')
    with pytest.raises(ConfigError, match="python_by_mlflow"):
        usecases.load(folder)


def test_a_python_outside_path_is_found_in_pyenvs_folder(tmp_path, monkeypatch):
    """A real interpreter in a fake pyenv root: found by its path (PATH has no python3.77)."""
    import sys

    fake = tmp_path / "pyenv" / "versions" / "3.77.1" / "bin"
    fake.mkdir(parents=True)
    (fake / "python3.77").write_text(
        f'#!/bin/sh\necho \'Python 3.77.1\'\n[ "$1" = --version ] || exec {sys.executable} "$@"\n'
    )
    (fake / "python3.77").chmod(0o755)
    monkeypatch.setenv("PYENV_ROOT", str(tmp_path / "pyenv"))
    interpreter.find.cache_clear()
    assert interpreter.find("3.77") == interpreter.Found(str(fake / "python3.77"))
    missing = interpreter.find("3.78")
    interpreter.find.cache_clear()
    assert missing.missing.startswith("Python 3.78 is not on this machine: looked in PATH (python3.78), pyenv (")
    assert str(tmp_path / "pyenv" / "versions") in missing.missing and "uv-managed" in missing.missing


def test_a_python_found_nowhere_is_one_line_for_its_cell_and_the_other_cells_keep_theirs(tmp_path, monkeypatch):
    """What nox is given per cell: a project naming Python 3.5 gets the tool's Python plus the one-line
    reason (its env stage fails with it, tests/cells/test_e2e_validate.py); its neighbours are untouched."""
    from rolloutcheck.core import paths
    from rolloutcheck.inputs import registry

    for name, python in (("old", "3.5"), ("current", "3.11")):
        folder = tmp_path / name
        folder.mkdir()
        project(folder, "python_env: python_env.yaml\n" + MAIN, {"python_env.yaml": f'python: "{python}"\n'})
        (folder / "usecase.yaml").write_text("flavor: sklearn\n")
    monkeypatch.setattr(paths, "USECASES", tmp_path)
    label = registry.Label("1.30.1", "mlflow==1.30.1")
    python, missing = interpreter.interpreter_for("old", label)
    assert python == "3.11" and missing.startswith("Python 3.5 is not on this machine: looked in PATH (python3.5)")
    assert "\n" not in missing
    assert interpreter.interpreter_for("current", label) == ("3.11", None)


def test_a_use_case_may_have_its_own_speed_rule(tmp_path):
    """`speed:` in usecase.yaml overrides ROLLOUT_SPEED_P95_RATIO / _MIN_MS for that use case's cells."""
    import dataclasses

    from rolloutcheck.core.settings import SpeedLimits

    folder = project(tmp_path, "python_env: python_env.yaml\n" + MAIN, {"python_env.yaml": 'python: "3.8"\n'})
    (folder / "usecase.yaml").write_text("flavor: sklearn\nspeed: {p95_ratio: 3, p95_min_ms: 50}\n")
    usecase = usecases.load(folder)
    assert dataclasses.replace(SpeedLimits(), **usecase.speed) == SpeedLimits(p95_ratio=3.0, p95_min_ms=50.0)
    for bad in ("speed: {p95_ratio: fast}\n", "speed: {p99_ratio: 2}\n", "speed: [1]\n"):
        (folder / "usecase.yaml").write_text("flavor: sklearn\n" + bad)
        with pytest.raises(ConfigError, match="speed"):
            usecases.load(folder)
