"""Preflight: everything a cell reads from the repository, loaded and validated before any process.

A problem is a ConfigError naming the file and key; the cell fails its `config` stage with that
line and the rest of the matrix runs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from rolloutcheck.core import paths, versionmatch
from rolloutcheck.core.errors import ConfigError, shown
from rolloutcheck.inputs import projects, requirements, usecases
from rolloutcheck.inputs.registry import Label
from rolloutcheck.inputs.usecases import UseCase
from rolloutcheck.probes import curl, expectations, forms
from rolloutcheck.spec import breaks, findings, kinds


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
    own = paths.probes_dir(usecase) / f"{probe}.expect.yaml"
    return own if own.is_file() else paths.PROBE_DEFAULTS / f"{probe}.expect.yaml"


def load_probes(usecase: UseCase) -> tuple[ProbeSpec, ...]:
    """The stored requests; none is allowed (the model's logged input example is then the probe, and
    a model without one fails the probe stage saying so)."""
    folder = usecase.probes_dir
    files = sorted(folder.glob("*.curl")) if folder.is_dir() else []
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
        if any(e.oracle and 200 in e.status for e in entries) and forms.of(request) is None:
            forms_known = "dataframe_split, dataframe_records, instances, inputs, split JSON, CSV"
            raise ConfigError(request_file, f"the body is no request form a scoring server reads ({forms_known})")
        loaded.append(ProbeSpec(name, request_file, expect_file, request, tuple(entries)))
    return tuple(loaded)


def project_note(config: CellConfig) -> str:
    """What the cell makes of the project: its environment file, and what this label does with it."""
    env, version = config.usecase.project.env, requirements.mlflow_version_of(config.label.mlflow)
    note = f"{env.described}, Python {config.usecase.python_for(version) or 'of the tool'}"
    if env.kind == "python_env" and version and not versionmatch.matches(f">={projects.PYTHON_ENV_SINCE}", version):
        note += (f" (mlflow {version} predates python_env, {projects.PYTHON_ENV_SINCE}: the tool builds the env "
                 "from it and runs the project in that env)")  # fmt: skip
    if not config.probes:
        note += "; no stored requests: the probe is the input example the model logs"
    return note


def check(label: Label, usecase_name: str) -> CellConfig:
    """The validated inputs of one cell; ConfigError on the first problem."""
    usecase = usecases.load(paths.usecase_dir(usecase_name))
    probes = load_probes(usecase)
    version = requirements.mlflow_version_of(label.mlflow)
    if version is not None:  # known before installing: a gap in an expectation file fails now, not after training
        for probe in probes:
            if expectations.select(list(probe.expectations), version) is None:
                raise ConfigError(
                    probe.expect_file, f"no entry matches mlflow {version} (label {label.name})", "mlflow"
                )
    return CellConfig(label, usecase, probes)


BREAK_KEYS = ("from", "to", "stage", "seen", "kind", "reason")
BREAKABLE = kinds.UPGRADE.breakable()  # the stages a written-down upgrade break may cover
Candidates = tuple[tuple[re.Pattern[str], breaks.Described], ...]  # what a stage's failure may be, in order


@dataclass(frozen=True)
class UpgradeBreak:
    """A written-down known break of an upgrade: its stage fails as XFAIL, not FAIL, when the failure's
    line matches `seen`."""

    source: str
    from_spec: str
    to_spec: str
    stage: str
    reason: str
    seen: re.Pattern[str]
    kind: str

    def applies(self, stage: str, from_version: str, to_version: str) -> bool:
        return (
            stage == self.stage
            and versionmatch.matches(self.from_spec, from_version)
            and versionmatch.matches(self.to_spec, to_version)
        )

    @property
    def described(self) -> breaks.Described:
        return breaks.Described(shown(self.source), self.stage, self.seen.pattern, self.kind, self.reason)


@dataclass(frozen=True)
class UpgradeConfig:
    source: CellConfig  # the *from* label's cell: trains and logs the model
    target: CellConfig  # the *to* label's cell: serves it
    breaks: tuple[UpgradeBreak, ...]

    def known(self, stage: str, from_version: str | None, to_version: str | None) -> Candidates:
        return known_breaks(self.breaks, stage, from_version, to_version)


def known_breaks(
    written: tuple[UpgradeBreak, ...], stage: str, from_version: str | None, to_version: str | None
) -> Candidates:
    """Every written-down break for `stage` between these versions, in file order (first match wins)."""
    if not from_version or not to_version:
        return ()
    return tuple((b.seen, b.described) for b in written if b.applies(stage, from_version, to_version))


def upgrade_breaks(usecase: UseCase) -> tuple[UpgradeBreak, ...]:
    """`probes/<usecase>/upgrade.yaml`, then the shared `probes/_defaults/upgrade.yaml`: first match wins."""
    found: list[UpgradeBreak] = []
    for path in (usecase.probes_dir / "upgrade.yaml", paths.PROBE_DEFAULTS / "upgrade.yaml"):
        if path.is_file():
            found += parse_breaks(usecases.read_yaml(path), path, BREAKABLE)
    return tuple(found)


def parse_breaks(entries: object, path: Path, breakable: tuple[str, ...], key: str | None = None) -> list[UpgradeBreak]:
    """Known breaks written as a list of {from, to, stage, seen, kind, reason}; ConfigError naming file and entry."""
    if not isinstance(entries, list):
        raise ConfigError(path, "must be a list of known breaks", key)
    found = []
    for index, entry in enumerate(entries, 1):
        where = f"{key + ' ' if key else ''}entry {index}"
        if not isinstance(entry, dict):
            raise ConfigError(path, f"{where}: must be a mapping of {', '.join(BREAK_KEYS)}")
        unknown = sorted(set(map(str, entry)) - set(BREAK_KEYS))
        missing = [k for k in BREAK_KEYS if not entry.get(k)]
        if unknown or missing:
            name = (unknown or missing)[0]
            raise ConfigError(
                path, f"{where}: {'unknown' if unknown else 'missing'}; keys: {', '.join(BREAK_KEYS)}", name
            )
        if entry["stage"] not in breakable:
            raise ConfigError(path, f"{where}: one of {', '.join(breakable)}", "stage")
        for name in ("from", "to"):
            try:
                versionmatch.matches(str(entry[name]), "1.0")
            except ValueError:
                raise ConfigError(path, f"{where}: {entry[name]!r} is not a PEP 440 specifier", name) from None
        try:
            seen, kind = breaks.pattern(entry["seen"]), breaks.kind(entry["kind"])
        except breaks.PatternError as error:
            raise ConfigError(path, f"{where}: {error}", "seen" if "seen:" in str(error) else "kind") from None
        fitting = findings.FINDING_KINDS[kind]
        if not fitting.fits(entry["stage"]):  # its prover would take an unrelated cell as the proof
            raise ConfigError(path, f"{where}: a {kind} break cannot be at stage {entry['stage']}; {kind} fits "
                              f"{', '.join(fitting.stages)}", "kind")  # fmt: skip
        found.append(UpgradeBreak(str(path), str(entry["from"]), str(entry["to"]), entry["stage"],
                                  " ".join(str(entry["reason"]).split()), seen, kind))  # fmt: skip
    return found


def check_upgrade(source: Label, target: Label, usecase_name: str) -> UpgradeConfig:
    """The validated inputs of an upgrade cell: the use case for both labels, and its known breaks."""
    config = check(source, usecase_name)
    return UpgradeConfig(config, CellConfig(target, config.usecase, config.probes), upgrade_breaks(config.usecase))
