"""envs/stores.yaml: what the tracking-store upgrade check writes, and what its environments add.

Read and validated once (unknown keys refused). The store environment of a label is the store use
case's environment plus the database drivers; it is locked like a cell, under envs/_stores/<label>/.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

from rolloutcheck.core import paths
from rolloutcheck.core.errors import ConfigError
from rolloutcheck.inputs import preflight, projects, usecases
from rolloutcheck.inputs.usecases import UseCase
from rolloutcheck.spec import kinds

STORES_FILE = paths.ENVS / "stores.yaml"
LOCK_NAME = "_stores"  # envs/_stores/<label>/: the store environments' locks
KEYS = ("usecase", "requirements", "requirements_by_mlflow", "stores", "size", "known_breaks")
BREAKABLE = kinds.STORE_UPGRADE.breakable()  # stages a written-down known break may turn into XFAIL
STORE_KINDS = kinds.STORE_KINDS
SIZE_KEYS = ("experiments", "runs", "steps", "models")


@dataclass(frozen=True)
class Size:
    """How much the generator writes: experiments x runs (each with `steps` metric points), and
    `models` logged models (registered where the version has a registry)."""

    experiments: int
    runs: int
    steps: int
    models: int


@dataclass(frozen=True)
class StoreConfig:
    project: UseCase  # the use case trained into the stores (its probes are replayed against them)
    environment: UseCase  # the same, plus drivers; named LOCK_NAME, so its locks live apart
    stores: tuple[str, ...]
    sizes: dict[str, Size]
    breaks: tuple[preflight.UpgradeBreak, ...] = ()
    pins: tuple[StorePin, ...] = ()  # what the check adds to its environments

    def size(self, name: str) -> Size:
        if name not in self.sizes:
            raise ConfigError(STORES_FILE, f"no size {name!r}; known: {', '.join(self.sizes)}", "size")
        return self.sizes[name]


@dataclass(frozen=True)
class StorePin:
    """A requirement every store environment of matching labels adds, and the store kinds that need it."""

    specifier: str  # on the label's mlflow; "" for every label
    pin: str
    why: str
    stores: tuple[str, ...] = ()  # `for:` the store kinds whose check shows it is needed (empty: every kind)

    def applies_to(self, store: str) -> bool:
        return not self.stores or store in self.stores


def _size(value: object, name: str) -> Size:
    if not isinstance(value, dict) or set(map(str, value)) != set(SIZE_KEYS):
        raise ConfigError(STORES_FILE, f"{name!r} must give exactly {', '.join(SIZE_KEYS)}", "size")
    if not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in value.values()):
        raise ConfigError(STORES_FILE, f"{name!r}: counts must be positive integers", "size")
    return Size(**value)


def _with_reasons(entries: object, path: Path, key: str) -> tuple[object, dict[str, tuple[str, tuple[str, ...]]]]:
    """Requirement entries that may be `{pin: ..., reason: ..., for: [store kinds]}`: (the plain strings,
    pin -> (reason, the store kinds that need it))."""
    if not isinstance(entries, list):
        return entries, {}
    plain, reasons = [], {}
    for entry in entries:
        if isinstance(entry, dict):
            kinds = entry.get("for", [])
            if not {"pin", "reason"} <= set(map(str, entry)) <= {"pin", "reason", "for"} or not all(
                isinstance(entry[k], str) for k in ("pin", "reason")
            ):
                raise ConfigError(path, "an entry is a requirement string or {pin: <requirement>, reason: <why>, "
                                  "for: [<store kinds>]}", key)  # fmt: skip
            if not isinstance(kinds, list) or set(kinds) - set(STORE_KINDS):
                raise ConfigError(path, f"`for:` lists some of {', '.join(STORE_KINDS)}", key)
            plain.append(entry["pin"].strip())
            reasons[entry["pin"].strip()] = (" ".join(entry["reason"].split()), tuple(kinds))
        else:
            plain.append(entry)
    return plain, reasons


def load(path: Path = STORES_FILE) -> StoreConfig:
    spec = usecases.read_yaml(path)
    if not isinstance(spec, dict):
        raise ConfigError(path, "must be a YAML mapping")
    projects.refuse_unknown(spec, KEYS, path)
    name = spec.get("usecase")
    if not isinstance(name, str) or not paths.usecase_dir(name).is_dir():
        raise ConfigError(path, f"{name!r} is not a folder of usecases/", "usecase")
    base = usecases.load(paths.usecase_dir(name))
    requirements, why = _with_reasons(spec.get("requirements") or [], path, "requirements")
    pins = [StorePin("", r, *why.get(r, ("", ()))) for r in requirements] if isinstance(requirements, list) else []
    if isinstance(spec.get("requirements_by_mlflow"), dict):
        plain = {}
        for specifier, extra in spec["requirements_by_mlflow"].items():
            plain[specifier], reasons = _with_reasons(extra, path, "requirements_by_mlflow")
            pins += (
                [StorePin(str(specifier), r, *reasons.get(r, ("", ()))) for r in plain[specifier]]
                if isinstance(plain[specifier], list)
                else []
            )
        spec = {**spec, "requirements_by_mlflow": plain}
    if not isinstance(requirements, list) or not all(isinstance(r, str) for r in requirements):
        raise ConfigError(path, "must be a list of requirements", "requirements")
    by_version = usecases.requirements_by_mlflow(spec, path)
    stores = spec.get("stores") or []
    if not isinstance(stores, list) or not stores or set(stores) - set(STORE_KINDS):
        raise ConfigError(path, f"must be a list of some of {', '.join(STORE_KINDS)}", "stores")
    sizes = spec.get("size") or {}
    if not isinstance(sizes, dict) or "default" not in sizes:
        raise ConfigError(path, "must name at least a `default` size", "size")
    merged = dict(base.requirements_by_mlflow)
    merged[""] = [*merged.get("", []), *requirements]  # the empty specifier matches every version
    for specifier, extra in by_version.items():
        merged[str(specifier)] = [*merged.get(str(specifier), []), *extra]
    return StoreConfig(
        project=base,
        environment=dataclasses.replace(base, name=LOCK_NAME, requirements_by_mlflow=merged),
        stores=tuple(dict.fromkeys(stores)),
        sizes={str(k): _size(v, str(k)) for k, v in sizes.items()},
        breaks=tuple(preflight.parse_breaks(spec.get("known_breaks") or [], path, BREAKABLE, "known_breaks")),
        pins=tuple(pins),
    )


def store_kinds() -> tuple[str, ...]:
    """The store checks envs/stores.yaml lists (all of them when it is broken: each then fails its config)."""
    try:
        return load().stores
    except ConfigError:
        return STORE_KINDS
