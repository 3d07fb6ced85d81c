"""An MLflow Project as its MLproject declares it: which environment file, which Python, which params.

A team's project is taken as it is. The environment comes from whichever key the MLproject names:
`conda_env` (a conda.yaml), `python_env` (a python_env.yaml, mlflow 1.26+: `python`,
`build_dependencies`, `dependencies`, where `-r requirements.txt` is read), or neither, which
follows mlflow's own order of defaults (python_env.yaml, then conda.yaml, then the bare Python).
`docker_env` needs a container engine, which this machine has not: one line. Every form becomes one
`ProjectEnv`, so locks (uv and conda-lock) derive requirements from it alone.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from rolloutcheck.core.errors import ConfigError

CONDA_SPEC = re.compile(r"^\s*([A-Za-z0-9_.\-]+)\s*(.*)$")
ENV_KEYS = ("conda_env", "python_env", "docker_env")
PYTHON_ENV_KEYS = ("python", "build_dependencies", "dependencies")
DEFAULT_FILES = (("python_env", "python_env.yaml"), ("conda_env", "conda.yaml"))  # mlflow's order
PYTHON_ENV_SINCE = "1.26"  # mlflow before it ignores `python_env` (the tool builds the env itself)


@dataclass(frozen=True)
class ProjectEnv:
    """The environment a project asks for, whatever file it came from."""

    kind: str  # conda_env | python_env | none (the bare Python)
    file: Path | None  # the file it was read from
    python: str | None = None  # "3.8", from `python=3.8.*` or `python: "3.8"`
    conda: tuple[str, ...] = ()  # conda dependency specs, verbatim (conda_env only)
    pip: tuple[str, ...] = ()  # pip requirements, verbatim
    channels: tuple[str, ...] = ()

    @property
    def described(self) -> str:
        return f"{self.kind} {self.file.name}" if self.file else "no environment file (the bare Python)"


@dataclass(frozen=True)
class Project:
    folder: Path
    env: ProjectEnv
    defaults: dict[str, Any] = field(default_factory=dict)  # main entry point's parameter defaults


def read_yaml(path: Path) -> Any:
    """A YAML file's content; ConfigError naming the file (and line) when missing or malformed."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise ConfigError(path, "missing") from None
    except OSError as error:
        raise ConfigError(path, f"cannot be read: {error.strerror or error}") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        line = f" at line {mark.line + 1}" if mark else ""
        raise ConfigError(path, f"not valid YAML{line}: {getattr(error, 'problem', None) or error}") from None


def python_of(spec: object) -> str | None:
    """`3.8`, `3.8.18`, `=3.8`, `>=3.8,<3.9` -> "3.8" (the first X.Y named)."""
    found = re.search(r"(\d+\.\d+)", str(spec or ""))
    return found.group(1) if found else None


def read_conda(path: Path) -> ProjectEnv:
    """A conda.yaml: dependencies (strings, one nested `pip:` list); ConfigError naming the entry."""
    data = read_yaml(path)
    if not isinstance(data, dict):
        raise ConfigError(path, "must be a YAML mapping")
    deps = data.get("dependencies")
    if not isinstance(deps, list) or not deps:
        raise ConfigError(path, "must be a non-empty list", "dependencies")
    python, conda, pip = None, [], []
    for dep in deps:
        if isinstance(dep, dict):
            if set(dep) != {"pip"} or not isinstance(dep["pip"], list):
                raise ConfigError(path, f"entry {dep!r}: only a `pip:` list may be nested", "dependencies")
            pip.extend(str(p) for p in dep["pip"])
        elif not isinstance(dep, str) or not dep.strip():
            raise ConfigError(path, f"entry {dep!r} is not a package spec", "dependencies")
        else:
            name, version = CONDA_SPEC.match(dep).groups()
            if name == "python":
                python = python_of(version)
            else:
                conda.append(dep)
    channels = tuple(str(c) for c in data.get("channels") or ())
    return ProjectEnv("conda_env", path, python, tuple(conda), tuple(pip), channels)


def read_requirements(path: Path, seen: tuple[Path, ...] = ()) -> list[str]:
    """A requirements file's requirements, `-r other.txt` followed (relative to the file)."""
    if path in seen:
        raise ConfigError(path, "includes itself through -r")
    try:
        lines = path.read_text().splitlines()
    except FileNotFoundError:
        raise ConfigError(path, "missing (named by -r)") from None
    found = []
    for line in lines:
        line = line.split(" #", 1)[0].strip()
        if not line or line.startswith("#"):
            continue
        found += _requirement(line, path, (*seen, path))
    return found


def _requirement(entry: str, source: Path, seen: tuple[Path, ...] = ()) -> list[str]:
    if entry.startswith(("-r ", "--requirement ")):
        return read_requirements(source.parent / entry.split(None, 1)[1].strip(), seen)
    if entry.startswith("-"):
        raise ConfigError(source, f"{entry!r}: only requirements and `-r file` are understood", "dependencies")
    return [entry]


def refuse_unknown(data: dict, known: tuple[str, ...], path: Path, where: str = "") -> None:
    """ConfigError naming the first key of `data` that is not `known` (the files the tool reads refuse them)."""
    unknown = sorted(set(map(str, data)) - set(known))
    if unknown:
        raise ConfigError(path, f"{where}unknown key; known: {', '.join(known)}", unknown[0])


def read_python_env(path: Path) -> ProjectEnv:
    """A python_env.yaml (mlflow 1.26+); unknown keys refused as mlflow refuses them."""
    data = read_yaml(path)
    if not isinstance(data, dict):
        raise ConfigError(path, "must be a YAML mapping")
    refuse_unknown(data, PYTHON_ENV_KEYS, path)
    python = python_of(data.get("python"))
    if python is None:
        raise ConfigError(path, 'must name a Python version (`python: "3.8"`)', "python")
    pip = []
    for key in ("build_dependencies", "dependencies"):
        entries = data.get(key) or []
        if not isinstance(entries, list) or not all(isinstance(e, str) for e in entries):
            raise ConfigError(path, "must be a list of requirements", key)
        for entry in entries:
            pip += _requirement(entry.strip(), path)
    return ProjectEnv("python_env", path, python, (), tuple(pip))


READERS = {"conda_env": read_conda, "python_env": read_python_env}


def environment(folder: Path, mlproject: dict) -> ProjectEnv:
    """The environment the MLproject names, else mlflow's defaults; ConfigError naming MLproject."""
    source = folder / "MLproject"
    named = [k for k in ENV_KEYS if mlproject.get(k)]
    if len(named) > 1:
        raise ConfigError(source, f"names {' and '.join(named)}: an MLflow Project has one environment", named[1])
    if named == ["docker_env"]:
        raise ConfigError(source, "docker_env projects need a container engine; this machine has none", "docker_env")
    if named:
        kind = named[0]
        if not isinstance(mlproject[kind], str):
            raise ConfigError(source, "must name a file beside MLproject", kind)
        return READERS[kind](folder / mlproject[kind])
    for kind, name in DEFAULT_FILES:
        if (folder / name).is_file():
            return READERS[kind](folder / name)
    return ProjectEnv("none", None)


def parameter_defaults(mlproject: dict, source: Path) -> dict[str, Any]:
    """The main entry point's parameters that have a default."""
    main = (mlproject.get("entry_points") or {}).get("main") or {}
    if not isinstance(main, dict):
        raise ConfigError(source, "must be a mapping with `command`", "entry_points")
    parameters = main.get("parameters") or {}
    if not isinstance(parameters, dict):
        raise ConfigError(source, "must map names to a type or {type, default}", "parameters")
    return {n: p["default"] for n, p in parameters.items() if isinstance(p, dict) and p.get("default") is not None}


def load(folder: Path) -> Project:
    source = folder / "MLproject"
    if not source.is_file():
        raise ConfigError(source, "missing: a use case folder must hold an MLflow Project")
    mlproject = read_yaml(source)
    if not isinstance(mlproject, dict):
        raise ConfigError(source, "must be a YAML mapping")
    return Project(folder, environment(folder, mlproject), parameter_defaults(mlproject, source))
