"""What a cell's environment must contain, derived from a use case's project environment and a label.

The environment is the one the MLproject names (inputs/projects.py: conda.yaml, python_env.yaml or
none); conda dependencies are mapped to PyPI names (envs/conda-to-pypi.yaml), the `pip:` section is
taken as is, any `mlflow` there is replaced by the label's mlflow requirement, and the label's
extra requirements and constraints are added. The result, plus the Python version, is what a
lock is computed from; its digest tells whether a committed lock is stale. A requirement that is
a local file (a wheel or sdist path, or a `file://` URL) counts with its content: rebuilding the
wheel under the same name makes the lock stale.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit
from urllib.request import url2pathname

import yaml
from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import InvalidSpecifier
from packaging.utils import (
    canonicalize_name,
)

from rolloutcheck.core import paths, versionmatch
from rolloutcheck.core.errors import Failure
from rolloutcheck.inputs.projects import CONDA_SPEC
from rolloutcheck.inputs.registry import Label
from rolloutcheck.inputs.requirements import ARCHIVE_SUFFIXES, is_url, location_of, mlflow_version_of
from rolloutcheck.inputs.usecases import UseCase


class EnvSpecError(Failure, ValueError):
    """A project's environment cannot be turned into pip requirements."""


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


def local_file(requirement: str) -> Path | None:
    """The local file a requirement installs from: an archive path (absolute, or relative to the
    working directory, as uv reads it) or a `file://` URL; None for anything else. A `file://` URL
    to a directory (a source tree) is not a file and gives None."""
    location = location_of(requirement)
    if location is None:
        return None
    if is_url(location):
        if urlsplit(location).scheme.lower() != "file":
            return None
        path = Path(url2pathname(urlsplit(location).path))
        return None if path.is_dir() else path
    return Path(location).expanduser() if location.lower().endswith(ARCHIVE_SUFFIXES) else None


def local_file_digests(requirements: Iterable[str]) -> dict[str, str]:
    """requirement -> sha256 of its local file, for the requirements that are local files.
    EnvSpecError naming the requirement when its file is missing."""
    digests = {}
    for requirement in requirements:
        path = local_file(requirement)
        if path is None:
            continue
        try:
            digests[requirement] = hashlib.sha256(path.read_bytes()).hexdigest()
        except OSError as error:
            reason = "no such file" if isinstance(error, FileNotFoundError) else (error.strerror or str(error))
            raise EnvSpecError(f"requirement {requirement!r}: {reason}: {path}") from None
    return digests


def is_mlflow(requirement: str) -> bool:
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
        """sha256 of the inputs, local files' contents included (read now: a rebuilt wheel changes
        it). EnvSpecError when a local file has gone missing."""
        inputs = {
            "python": self.python,
            "requirements": list(self.requirements),
            "constraints": list(self.constraints),
            "index_url": self.index_url,
        }
        files = local_file_digests([*self.requirements, *self.constraints])
        if files:  # only then: digests of inputs without local files stay what they were
            inputs["files"] = files
        return hashlib.sha256(json.dumps(inputs, sort_keys=True).encode()).hexdigest()


def lock_inputs(usecase: UseCase, label: Label, default_python: str = "3.11") -> LockInputs:
    names = yaml.safe_load(paths.CONDA_TO_PYPI.read_text()) or {}
    env = usecase.project.env
    requirements = [r for r in (conda_to_pip(s, names) for s in env.conda) if r]
    requirements += [p for p in env.pip if not is_mlflow(p)]
    requirements.append(label.mlflow)
    requirements += label.requirements
    version = mlflow_version_of(label.mlflow)
    for specifier, extra in usecase.requirements_by_mlflow.items():
        if version is None:
            raise EnvSpecError(
                f"{usecase.name} needs extra requirements per mlflow version, but the version of "
                f"{label.name}'s requirement {label.mlflow!r} cannot be read"
            )
        try:
            wanted = versionmatch.matches(specifier, version)  # on the release: 2.0.0rc0 is 2.0.0
        except InvalidSpecifier:
            raise EnvSpecError(f"{usecase.name}: requirements_by_mlflow: {specifier!r} is not a specifier") from None
        if wanted:
            requirements += extra
    local_file_digests([*requirements, *label.constraints])  # a missing wheel is an error here, not later
    return LockInputs(
        usecase=usecase.name,
        label=label.name,
        python=usecase.python_for(version) or default_python,
        requirements=tuple(dict.fromkeys(requirements)),
        constraints=tuple(label.constraints),
        index_url=label.index_url,
    )
