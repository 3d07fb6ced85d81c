"""Use cases: one MLflow Project per folder under usecases/, described by its usecase.yaml."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import yaml

from . import paths


@dataclass(frozen=True)
class UseCase:
    name: str
    folder: Path
    flavor: str  # the flavor MLmodel must list next to python_function
    params: dict[str, float | int | str]
    metrics: tuple[str, ...]
    features: tuple[str, ...] = ()
    model_path: str = "model"
    description: str = ""
    # flavors also accepted on versions that lack `flavor` (e.g. pyfunc where mlflow has no xgboost)
    fallback_flavors: tuple[str, ...] = ()
    needs_java: bool = False
    # extra requirements keyed by a PEP 440 specifier on the label's mlflow version
    requirements_by_mlflow: dict[str, list[str]] = field(default_factory=dict)

    @property
    def conda_file(self) -> Path:
        return self.folder / "conda.yaml"

    @property
    def probes_dir(self) -> Path:
        return paths.PROBES / self.name


def load(folder: Path) -> UseCase:
    spec = yaml.safe_load((folder / "usecase.yaml").read_text()) or {}
    return UseCase(
        name=folder.name,
        folder=folder,
        flavor=spec["flavor"],
        params=dict(spec.get("params") or {}),
        metrics=tuple(spec.get("metrics") or ()),
        features=tuple(spec.get("features") or ()),
        model_path=spec.get("model_path", "model"),
        description=spec.get("description", ""),
        fallback_flavors=tuple(spec.get("fallback_flavors") or ()),
        needs_java=bool(spec.get("needs_java", False)),
        requirements_by_mlflow=dict(spec.get("requirements_by_mlflow") or {}),
    )


def discover(root: Path = paths.USECASES) -> dict[str, UseCase]:
    """Every folder of `root` with an MLproject and a usecase.yaml, by name."""
    found = sorted(p.parent for p in root.glob("*/usecase.yaml") if (p.parent / "MLproject").is_file())
    return {folder.name: load(folder) for folder in found}
