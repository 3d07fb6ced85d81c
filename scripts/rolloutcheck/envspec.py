"""What a cell's environment must contain, derived from a use case's conda.yaml and a label.

conda dependencies are mapped to PyPI names (envs/conda-to-pypi.yaml), the `pip:` section is
taken as is, any `mlflow` there is replaced by the label's mlflow requirement, and the label's
extra requirements and constraints are added. The result, plus the Python version, is what a
lock is computed from; its digest tells whether a committed lock is stale.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path

import yaml
from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from . import paths
from .registry import Label
from .usecases import UseCase

CONDA_SPEC = re.compile(r"^\s*([A-Za-z0-9_.\-]+)\s*(.*)$")


class EnvSpecError(ValueError):
    """conda.yaml cannot be turned into pip requirements."""


@dataclass(frozen=True)
class CondaEnv:
    python: str | None  # "3.11", from `python=3.11[.x]`
    conda: tuple[str, ...]  # conda dependency specs, verbatim
    pip: tuple[str, ...]  # the `pip:` section, verbatim


def read_conda_env(path: Path) -> CondaEnv:
    data = yaml.safe_load(path.read_text()) or {}
    python, conda, pip = None, [], []
    for dep in data.get("dependencies") or []:
        if isinstance(dep, dict):
            pip.extend(str(p) for p in dep.get("pip") or [])
            continue
        name, version = CONDA_SPEC.match(str(dep)).groups()
        if name == "python":
            found = re.search(r"(\d+\.\d+)", version)
            python = found.group(1) if found else None
        else:
            conda.append(str(dep))
    return CondaEnv(python=python, conda=tuple(conda), pip=tuple(pip))


def conda_to_pip(spec: str, names: dict[str, str | None]) -> str | None:
    """`scikit-learn=1.1` -> `scikit-learn==1.1.*`; None for non-Python packages."""
    name, version = CONDA_SPEC.match(spec).groups()
    pypi = names.get(name, name)
    if pypi is None:
        return None
    version = version.strip().split()[0] if version.strip() else ""
    if not version:
        return pypi
    if version.startswith("=") and not version.startswith("=="):
        version = "==" + version[1:] + ("" if version.count(".") > 1 else ".*")
    elif version[0].isdigit():
        version = "==" + version
    return pypi + version


def mlflow_version_of(requirement: str) -> Version | None:
    """The version a label's mlflow requirement pins, when it can be read off it."""
    wheel = re.search(r"mlflow-([^-/]+)-[^/]*\.(whl|tar\.gz)$", requirement)
    if wheel:
        try:
            return Version(wheel.group(1))
        except InvalidVersion:
            return None
    try:
        spec = Requirement(requirement).specifier
    except InvalidRequirement:
        return None
    pins = [s.version for s in spec if s.operator in ("==", "===")]
    try:
        return Version(pins[0]) if pins else None
    except InvalidVersion:
        return None


def _is_mlflow(requirement: str) -> bool:
    try:
        return canonicalize_name(Requirement(requirement).name) == "mlflow"
    except InvalidRequirement:
        return False


@dataclass(frozen=True)
class LockInputs:
    usecase: str
    label: str
    python: str
    requirements: tuple[str, ...]
    constraints: tuple[str, ...]
    index_url: str | None

    def digest(self) -> str:
        canonical = json.dumps(
            {
                "python": self.python,
                "requirements": list(self.requirements),
                "constraints": list(self.constraints),
                "index_url": self.index_url,
            },
            sort_keys=True,
        )
        return hashlib.sha256(canonical.encode()).hexdigest()


def lock_inputs(usecase: UseCase, label: Label, default_python: str = "3.11") -> LockInputs:
    names = yaml.safe_load(paths.CONDA_TO_PYPI.read_text()) or {}
    env = read_conda_env(usecase.conda_file)
    requirements = [r for r in (conda_to_pip(s, names) for s in env.conda) if r]
    requirements += [p for p in env.pip if not _is_mlflow(p)]
    requirements.append(label.mlflow)
    requirements += label.requirements
    version = mlflow_version_of(label.mlflow)
    for specifier, extra in usecase.requirements_by_mlflow.items():
        if version is None:
            raise EnvSpecError(
                f"{usecase.name} needs extra requirements per mlflow version, but the version of "
                f"{label.name}'s requirement {label.mlflow!r} cannot be read"
            )
        if version in SpecifierSet(specifier):
            requirements += extra
    return LockInputs(
        usecase=usecase.name,
        label=label.name,
        python=env.python or default_python,
        requirements=tuple(dict.fromkeys(requirements)),
        constraints=tuple(label.constraints),
        index_url=label.index_url,
    )
