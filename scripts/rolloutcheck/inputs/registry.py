"""The version registry: labels from envs/versions.yaml, validated, with a team's overrides applied.

Overrides (neither needs a code change):
- a YAML file shaped like versions.yaml, `envs/versions.local.yaml` (git-ignored) or the path in
  ROLLOUT_VERSIONS_OVERRIDE; its entries are merged over the committed ones, key by key;
- ROLLOUT_MLFLOW__<LABEL> (label upper-cased, non-alphanumerics as `_`, e.g.
  ROLLOUT_MLFLOW__1_2_SBD_0) replaces that label's mlflow requirement, and
  ROLLOUT_INDEX_URL__<LABEL> its extra index URL.

Every problem is a RegistryError whose message is one line naming the file, the label and the key.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from rolloutcheck.core import paths
from rolloutcheck.core.errors import Failure

TOP_KEYS = ("labels",)
LABEL_KEYS = ("mlflow", "description", "index_url", "requirements", "constraints")


class RegistryError(Failure, ValueError):
    """The registry (or its override) is malformed; the message is one line."""


@dataclass(frozen=True)
class Label:
    name: str
    mlflow: str  # requirement: `mlflow==X`, a wheel path, or `mlflow @ URL`
    description: str = ""
    index_url: str | None = None
    requirements: tuple[str, ...] = field(default_factory=tuple)
    constraints: tuple[str, ...] = field(default_factory=tuple)
    reasons: dict[str, str] = field(default_factory=dict, compare=False, hash=False)  # pin -> why the tool adds it

    @property
    def env_key(self) -> str:
        return env_key(self.name)


def env_key(name: str) -> str:
    return re.sub(r"[^A-Z0-9]", "_", name.upper())


def _read(path: Path) -> dict[str, dict]:
    try:
        data = yaml.safe_load(path.read_text())
    except OSError as error:
        raise RegistryError(f"{path}: cannot be read: {error.strerror or error}") from None
    except yaml.YAMLError as error:
        where = getattr(error, "problem_mark", None)
        line = f" (line {where.line + 1})" if where else ""
        raise RegistryError(f"{path}: not valid YAML{line}: {getattr(error, 'problem', error)}") from None
    data = data if data is not None else {}
    if not isinstance(data, dict):
        raise RegistryError(f"{path}: must be a mapping with the key `labels`")
    unknown = sorted(set(map(str, data)) - set(TOP_KEYS))
    if "production" in unknown:  # declared once, with the rest of what production is
        raise RegistryError(f"{path}: key 'production': moved to envs/production.yaml (`label:`)")
    if unknown:
        raise RegistryError(f"{path}: unknown key {unknown[0]!r}; known: {', '.join(TOP_KEYS)}")
    labels = data.get("labels") or {}
    if not isinstance(labels, dict):
        raise RegistryError(f"{path}: `labels` must be a mapping of label -> settings")
    for name, raw in labels.items():
        if raw is not None and not isinstance(raw, dict):
            raise RegistryError(f"{path}: label {str(name)!r}: must be a mapping of settings")
        unknown = sorted(set(map(str, raw or {})) - set(LABEL_KEYS))
        if unknown:
            raise RegistryError(
                f"{path}: label {str(name)!r}: unknown key {unknown[0]!r}; known: {', '.join(LABEL_KEYS)}"
            )
    return {str(name): dict(raw or {}) for name, raw in labels.items()}


def _strings(raw: dict, key: str, where: str) -> tuple[tuple[str, ...], dict[str, str]]:
    """A list of requirement strings, each plain or `{pin: ..., reason: ...}`; (the strings, pin -> reason)."""
    value = raw.get(key) or ()
    if isinstance(value, str) or not isinstance(value, list | tuple):
        raise RegistryError(f"{where}: key {key!r}: must be a list of requirement strings")
    pins, reasons = [], {}
    for entry in value:
        if isinstance(entry, dict):
            unknown = sorted(set(map(str, entry)) - {"pin", "reason"})
            pin, reason = entry.get("pin"), entry.get("reason")
            if unknown or not isinstance(pin, str) or not pin.strip() or not isinstance(reason, str):
                raise RegistryError(f"{where}: key {key!r}: an entry must be a requirement string or "
                                    f"{{pin: <requirement>, reason: <why>}}" + (f"; unknown key {unknown[0]!r}"
                                                                                if unknown else ""))  # fmt: skip
            pins.append(pin.strip())
            reasons[pin.strip()] = " ".join(reason.split())
        elif isinstance(entry, str) and entry.strip():
            pins.append(entry.strip())
        else:
            raise RegistryError(f"{where}: key {key!r}: must be a list of requirement strings")
    return tuple(pins), reasons


def _label(name: str, raw: dict, environ: Mapping[str, str], source: str) -> Label:
    where = f"{source}: label {name!r}"
    key = env_key(name)
    mlflow = environ.get(f"ROLLOUT_MLFLOW__{key}") or raw.get("mlflow")
    if not isinstance(mlflow, str) or not mlflow.strip():
        raise RegistryError(f"{where}: key 'mlflow': missing; it names the requirement that installs this build")
    index_url = environ.get(f"ROLLOUT_INDEX_URL__{key}") or raw.get("index_url")
    if index_url is not None and not isinstance(index_url, str):
        raise RegistryError(f"{where}: key 'index_url': must be a URL string")
    requirements, required_why = _strings(raw, "requirements", where)
    constraints, constrained_why = _strings(raw, "constraints", where)
    return Label(
        name=name,
        mlflow=mlflow.strip(),
        description=str(raw.get("description") or ""),
        index_url=index_url,
        requirements=requirements,
        constraints=constraints,
        reasons={**required_why, **constrained_why},
    )


@dataclass(frozen=True)
class Registry:
    labels: dict[str, Label]


def load_registry(
    file: Path = paths.VERSIONS_FILE, override: Path | None = None, environ: Mapping[str, str] | None = None
) -> Registry:
    """Labels in file order, with the override file and environment variables applied."""
    environ = environ or {}
    merged = _read(file)
    sources = dict.fromkeys(merged, str(file))
    if override is not None and override.is_file():
        extra = _read(override)
        for name, settings in extra.items():
            merged.setdefault(name, {}).update(settings)
            sources[name] = f"{override} (over {file})" if name in sources else str(override)
    if not merged:
        raise RegistryError(f"{file}: no labels: add one under `labels:`")
    labels = {name: _label(name, raw, environ, sources[name]) for name, raw in merged.items()}
    return Registry(labels)


def load_labels(
    file: Path = paths.VERSIONS_FILE, override: Path | None = None, environ: Mapping[str, str] | None = None
) -> dict[str, Label]:
    return load_registry(file, override, environ).labels


def load(settings) -> Registry:
    """The registry as `settings` say (file, override, environment)."""
    return load_registry(settings.versions_file, settings.versions_override, settings.environ)
