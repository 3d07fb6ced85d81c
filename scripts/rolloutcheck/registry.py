"""The version registry: labels from envs/versions.yaml, with a team's overrides applied.

Overrides (neither needs a code change):
- a YAML file shaped like versions.yaml, `envs/versions.local.yaml` (git-ignored) or the path in
  ROLLOUT_VERSIONS_OVERRIDE; its entries are merged over the committed ones, key by key;
- ROLLOUT_MLFLOW__<LABEL> (label upper-cased, non-alphanumerics as `_`, e.g.
  ROLLOUT_MLFLOW__1_2_SBD_0) replaces that label's mlflow requirement, and
  ROLLOUT_INDEX_URL__<LABEL> its extra index URL.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from . import paths


class RegistryError(ValueError):
    """The registry file is malformed."""


@dataclass(frozen=True)
class Label:
    name: str
    mlflow: str  # requirement: `mlflow==X`, a wheel path, or `mlflow @ URL`
    description: str = ""
    index_url: str | None = None
    requirements: tuple[str, ...] = field(default_factory=tuple)
    constraints: tuple[str, ...] = field(default_factory=tuple)

    @property
    def env_key(self) -> str:
        return re.sub(r"[^A-Z0-9]", "_", self.name.upper())


def _read(path: Path) -> dict:
    data = yaml.safe_load(path.read_text()) or {}
    if not isinstance(data.get("labels", {}), dict):
        raise RegistryError(f"{path}: `labels` must be a mapping of label -> settings")
    return data.get("labels") or {}


def _label(name: str, raw: dict, environ: os._Environ | dict) -> Label:
    if not isinstance(raw, dict) or not raw.get("mlflow"):
        raise RegistryError(f"label {name!r}: needs an `mlflow` requirement")
    key = re.sub(r"[^A-Z0-9]", "_", name.upper())
    mlflow = environ.get(f"ROLLOUT_MLFLOW__{key}") or str(raw["mlflow"])
    index_url = environ.get(f"ROLLOUT_INDEX_URL__{key}") or raw.get("index_url")
    return Label(
        name=name,
        mlflow=mlflow.strip(),
        description=str(raw.get("description", "")),
        index_url=index_url,
        requirements=tuple(str(r) for r in raw.get("requirements") or ()),
        constraints=tuple(str(c) for c in raw.get("constraints") or ()),
    )


def load_labels(
    file: Path = paths.VERSIONS_FILE,
    override: Path | None = paths.VERSIONS_OVERRIDE,
    environ: os._Environ | dict = os.environ,
) -> dict[str, Label]:
    """Labels in file order, with the override file and environment variables applied."""
    merged = {str(k): dict(v or {}) for k, v in _read(file).items()}
    if override is not None and override.is_file():
        for name, settings in _read(override).items():
            merged.setdefault(str(name), {}).update(settings or {})
    return {name: _label(name, raw, environ) for name, raw in merged.items()}
