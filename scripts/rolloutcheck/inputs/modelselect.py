"""envs/models.yaml: which of production's models the `models-<label>` cells check, validated once.

    limit: 50                       # at most this many models (the first ones in a stable order)
    select:
      - registered: "*"             # registered models whose name matches (fnmatch) ...
        stage: Production           # ... in this stage (1.4+), or under this alias (2.3+), or this version
        usecase: sklearn_elasticnet_wine   # optional: its stored requests are asked too
      - experiment: live-models     # or runs of an experiment (1.x without a registry) ...
        tags: {live: "true"}        # ... whose tags all match, each logged model of the run
        path: model                 # optional: only this artifact path

A run tagged `rollout.usecase=<use case>` links its model to that use case as `usecase:` does.
Unknown keys are refused; every problem is one line naming the file, the entry and the key.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from rolloutcheck.core import paths
from rolloutcheck.core.errors import ConfigError
from rolloutcheck.inputs.projects import read_yaml, refuse_unknown

MODELS_FILE = paths.ENVS / "models.yaml"
TOP_KEYS = ("limit", "select")
REGISTERED_KEYS = ("registered", "stage", "alias", "version", "usecase")
RUN_KEYS = ("experiment", "tags", "path", "usecase")
LINK_TAG = "rollout.usecase"  # a run tag that links the run's model to a use case
DEFAULT_LIMIT = 50


@dataclass(frozen=True)
class Registered:
    """Registered model versions: by name pattern, and a stage, an alias or a version."""

    pattern: str
    stage: str | None = None
    alias: str | None = None
    version: str | None = None
    usecase: str | None = None


@dataclass(frozen=True)
class Runs:
    """The logged models of an experiment's runs whose tags all match."""

    experiment: str
    tags: dict[str, str] = field(default_factory=dict)
    path: str | None = None
    usecase: str | None = None


@dataclass(frozen=True)
class Selection:
    entries: tuple[Registered | Runs, ...]
    limit: int = DEFAULT_LIMIT
    source: Path = MODELS_FILE


def _text(entry: dict, key: str, where: str, path: Path) -> str | None:
    value = entry.get(key)
    if value is None:
        return None
    if not isinstance(value, str | int) or isinstance(value, bool) or not str(value).strip():
        raise ConfigError(path, f"{where}: must be a non-empty string", key)
    return str(value)


def _entry(entry: object, index: int, path: Path) -> Registered | Runs:
    where = f"select entry {index}"
    if not isinstance(entry, dict):
        raise ConfigError(path, f"{where}: must be a mapping with `registered` or `experiment`")
    if ("registered" in entry) == ("experiment" in entry):
        raise ConfigError(path, f"{where}: exactly one of `registered` (the registry) or `experiment` (runs)")
    known = REGISTERED_KEYS if "registered" in entry else RUN_KEYS
    refuse_unknown(entry, known, path, f"{where}: ")
    text = {key: _text(entry, key, where, path) for key in known if key != "tags"}
    if "registered" in entry:
        if not any(text[k] for k in ("stage", "alias", "version")):
            raise ConfigError(path, f"{where}: say which versions: `stage`, `alias` or `version`", "registered")
        return Registered(text["registered"], text["stage"], text["alias"], text["version"], text["usecase"])
    tags = entry.get("tags") or {}
    if not isinstance(tags, dict) or not all(isinstance(v, str | int | bool) for v in tags.values()):
        raise ConfigError(path, f"{where}: must map tag names to values", "tags")
    as_text = {str(k): str(v).lower() if isinstance(v, bool) else str(v) for k, v in tags.items()}
    return Runs(text["experiment"], as_text, text["path"], text["usecase"])


def load(path: Path = MODELS_FILE) -> Selection:
    """The validated selection; ConfigError naming the file and key on the first problem."""
    if not path.is_file():
        raise ConfigError(
            path, "missing: it says which of production's models to check (docs/howto/production-models.md)"
        )
    data = read_yaml(path)
    if not isinstance(data, dict):
        raise ConfigError(path, "must be a mapping with `select` (and `limit`)")
    refuse_unknown(data, TOP_KEYS, path)
    limit = data.get("limit", DEFAULT_LIMIT)
    if not isinstance(limit, int) or isinstance(limit, bool) or limit < 1:
        raise ConfigError(path, "must be a positive whole number", "limit")
    entries = data.get("select")
    if not isinstance(entries, list) or not entries:
        raise ConfigError(path, "must list at least one selection entry", "select")
    return Selection(tuple(_entry(e, i, path) for i, e in enumerate(entries, 1)), limit, path)
