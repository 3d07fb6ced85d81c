"""Use cases: one MLflow Project per folder under usecases/, described by its usecase.yaml.

`names()` lists every folder, so a broken one is still a cell (that fails its config stage)
rather than silently not a use case; `load()` validates one folder into a UseCase or raises
ConfigError naming the file and the key.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from packaging.specifiers import InvalidSpecifier, SpecifierSet

from rolloutcheck.core import paths, versionmatch
from rolloutcheck.core.errors import ConfigError
from rolloutcheck.inputs import projects
from rolloutcheck.inputs.projects import Project, read_yaml
from rolloutcheck.probes.loadtest import Load

USECASE_KEYS = (
    "flavor", "description", "model_path", "params", "metrics", "features", "fallback_flavors",
    "needs_java", "requirements_by_mlflow", "load", "python_by_mlflow", "speed",
)  # fmt: skip
SPEED_KEYS = ("p95_ratio", "p95_min_ms")  # the speed rule, overridden for one use case (core/settings.py's defaults)


@dataclass(frozen=True)
class UseCase:
    name: str
    folder: Path
    flavor: str  # the flavor MLmodel must list next to python_function
    params: dict[str, float | int | str]  # passed with -P; the MLproject's defaults fill in the rest
    metrics: tuple[str, ...]  # none named: every metric the run logged must be finite
    features: tuple[str, ...] = ()
    model_path: str | None = None  # None: the one model the run logged, wherever the label puts it
    description: str = ""
    # flavors also accepted on versions that lack `flavor` (e.g. pyfunc where mlflow has no xgboost)
    fallback_flavors: tuple[str, ...] = ()
    needs_java: bool = False
    # extra requirements keyed by a PEP 440 specifier on the label's mlflow version
    requirements_by_mlflow: dict[str, list[str]] = field(default_factory=dict)
    load: Load = field(default_factory=Load)  # the bounded load of the speed checks
    # the Python a team moves to for a range of mlflow versions, e.g. {">=3": "3.11"}
    python_by_mlflow: dict[str, str] = field(default_factory=dict)
    speed: dict[str, float] = field(default_factory=dict)  # its own speed rule (SPEED_KEYS), e.g. a batch model
    project: Project | None = None  # the MLproject as declared (environment, parameter defaults)

    @property
    def expected_params(self) -> dict[str, float | int | str]:
        """What the run must have logged: the entry point's defaults, overridden by `params`."""
        return {**(self.project.defaults if self.project else {}), **self.params}

    def python_for(self, mlflow_version: str | None) -> str | None:
        """The Python X.Y the cell runs on: python_by_mlflow's first match, else the project's own."""
        if mlflow_version is not None:
            for specifier, python in self.python_by_mlflow.items():
                if versionmatch.matches(specifier, mlflow_version):
                    return python
        return self.project.env.python if self.project else None

    @property
    def probes_dir(self) -> Path:
        return paths.probes_dir(self.name)


def names(root: Path | None = None) -> list[str]:
    """Every use case folder, broken ones included (they fail their cells' config stage)."""
    roots = [root] if root else paths.usecase_roots()  # the repository's, then ROLLOUT_EXTRA_USECASES'
    found = {p.name for r in roots if r.is_dir() for p in r.iterdir() if p.is_dir()}
    return sorted(name for name in found if not name.startswith((".", "_")))


def _mapping(path: Path) -> dict:
    data = read_yaml(path)
    if not isinstance(data, dict):
        raise ConfigError(path, "must be a YAML mapping")
    return data


def _strings(spec: dict, key: str, path: Path) -> tuple[str, ...]:
    value = spec.get(key) or []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(path, "must be a list of strings", key)
    return tuple(value)


def requirements_by_mlflow(spec: dict, path: Path) -> dict[str, list[str]]:
    """The `requirements_by_mlflow` of a YAML file: PEP 440 specifier -> list of requirements."""
    by_version = spec.get("requirements_by_mlflow") or {}
    if not isinstance(by_version, dict):
        raise ConfigError(path, "must map a PEP 440 specifier to a list of requirements", "requirements_by_mlflow")
    for specifier, extra in by_version.items():
        try:
            SpecifierSet(str(specifier))
        except InvalidSpecifier:
            raise ConfigError(path, f"{specifier!r} is not a specifier", "requirements_by_mlflow") from None
        if not isinstance(extra, list) or not all(isinstance(e, str) for e in extra):
            raise ConfigError(path, f"{specifier!r}: must be a list of requirements", "requirements_by_mlflow")
    return {str(k): list(v) for k, v in by_version.items()}


def load(folder: Path) -> UseCase:
    """Validate one use case folder (MLproject, its environment file, usecase.yaml) into a UseCase."""
    spec_file = folder / "usecase.yaml"
    project = projects.load(folder)
    spec = _mapping(spec_file)
    projects.refuse_unknown(spec, USECASE_KEYS, spec_file)
    if not isinstance(spec.get("flavor"), str) or not spec["flavor"]:
        raise ConfigError(spec_file, "missing: the flavor MLmodel must list next to python_function", "flavor")
    params = spec.get("params") or {}
    if not isinstance(params, dict) or not all(isinstance(v, (int, float, str)) for v in params.values()):
        raise ConfigError(spec_file, "must map parameter names to numbers or strings", "params")
    by_version = requirements_by_mlflow(spec, spec_file)
    if not isinstance(spec.get("needs_java", False), bool):
        raise ConfigError(spec_file, "must be true or false", "needs_java")
    load = spec.get("load") or {}
    if not isinstance(load, dict) or set(map(str, load)) - set(Load.KEYS):
        raise ConfigError(spec_file, f"must map some of {', '.join(Load.KEYS)} to numbers", "load")
    if not all(isinstance(v, int | float) and not isinstance(v, bool) and v > 0 for v in load.values()):
        raise ConfigError(spec_file, "values must be positive numbers", "load")
    speed = spec.get("speed") or {}
    if not isinstance(speed, dict) or set(map(str, speed)) - set(SPEED_KEYS):
        raise ConfigError(spec_file, f"must map some of {', '.join(SPEED_KEYS)} to numbers", "speed")
    if not all(isinstance(v, int | float) and not isinstance(v, bool) and v > 0 for v in speed.values()):
        raise ConfigError(spec_file, "values must be positive numbers", "speed")
    for key in ("model_path", "description"):
        if not isinstance(spec.get(key, ""), str):
            raise ConfigError(spec_file, "must be a string", key)
    pythons = spec.get("python_by_mlflow") or {}
    if not isinstance(pythons, dict) or not all(projects.python_of(v) for v in pythons.values()):
        raise ConfigError(spec_file, 'must map a PEP 440 specifier to a Python version ({">=3": "3.11"})',
                          "python_by_mlflow")  # fmt: skip
    for specifier in pythons:
        try:
            SpecifierSet(str(specifier))
        except InvalidSpecifier:
            raise ConfigError(spec_file, f"{specifier!r} is not a specifier", "python_by_mlflow") from None
    return UseCase(
        name=folder.name,
        folder=folder,
        flavor=spec["flavor"],
        params=dict(params),
        metrics=_strings(spec, "metrics", spec_file),
        features=_strings(spec, "features", spec_file),
        model_path=spec.get("model_path") or None,
        description=spec.get("description") or "",
        fallback_flavors=_strings(spec, "fallback_flavors", spec_file),
        needs_java=spec.get("needs_java", False),
        requirements_by_mlflow=by_version,
        load=Load(**{k: (float(v) if k == "seconds" else int(v)) for k, v in load.items()}),
        python_by_mlflow={str(k): projects.python_of(v) for k, v in pythons.items()},
        speed={str(k): float(v) for k, v in speed.items()},
        project=project,
    )


def discover(root: Path | None = None) -> dict[str, UseCase]:
    """Every use case, loaded, by name (for tools that need them all, e.g. merged requirements)."""
    return {name: load(root / name if root else paths.usecase_dir(name)) for name in names(root)}
