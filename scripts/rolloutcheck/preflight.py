"""Preflight: everything a cell reads from the repository, loaded and validated before any process.

A problem is a ConfigError naming the file and key; the cell fails its `config` stage with that
line and the rest of the matrix runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from . import curl, envspec, expectations, paths, usecases
from .errors import ConfigError
from .registry import Label
from .usecases import UseCase


@dataclass(frozen=True)
class ProbeSpec:
    """One stored request and what it must get."""

    name: str
    request_file: Path
    expect_file: Path  # the use case's own file, or the shared default for this probe name
    request: curl.Request
    expectations: tuple[expectations.Expectation, ...]


@dataclass(frozen=True)
class CellConfig:
    label: Label
    usecase: UseCase
    probes: tuple[ProbeSpec, ...]


def expectation_file(usecase: str, probe: str) -> Path:
    """`probes/<usecase>/<probe>.expect.yaml`, else the shared `probes/_defaults/<probe>.expect.yaml`."""
    own = paths.PROBES / usecase / f"{probe}.expect.yaml"
    return own if own.is_file() else paths.PROBE_DEFAULTS / f"{probe}.expect.yaml"


def load_probes(usecase: UseCase) -> tuple[ProbeSpec, ...]:
    folder = usecase.probes_dir
    files = sorted(folder.glob("*.curl")) if folder.is_dir() else []
    if not files:
        raise ConfigError(folder, "no stored requests (*.curl): a use case without probes validates nothing")
    loaded = []
    for request_file in files:
        name = request_file.stem
        expect_file = expectation_file(usecase.name, name)
        if not expect_file.is_file():
            raise ConfigError(
                request_file, f"no expectation: add {folder.name}/{name}.expect.yaml or _defaults/{name}.expect.yaml"
            )
        try:
            request = curl.load(request_file)
            entries = expectations.load(expect_file)
        except (curl.CurlError, expectations.ExpectationError) as error:
            raise ConfigError(getattr(error, "source", expect_file), str(error).split(": ", 1)[-1]) from None
        loaded.append(ProbeSpec(name, request_file, expect_file, request, tuple(entries)))
    return tuple(loaded)


def check(label: Label, usecase_name: str) -> CellConfig:
    """The validated inputs of one cell; ConfigError on the first problem."""
    usecase = usecases.load(paths.USECASES / usecase_name)
    probes = load_probes(usecase)
    version = envspec.mlflow_version_of(label.mlflow)
    if version is not None:  # known before installing: a gap in an expectation file fails now, not after training
        for probe in probes:
            if expectations.select(list(probe.expectations), version) is None:
                raise ConfigError(
                    probe.expect_file, f"no entry matches mlflow {version} (label {label.name})", "mlflow"
                )
    return CellConfig(label, usecase, probes)
