"""A validate cell, a (label, use case) pair: the use case's lifecycle on one label.

Its stages are declared in spec/kinds.py (VALIDATE); the lifecycle is cells/lifecycle.py.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from rolloutcheck.cells import lifecycle
from rolloutcheck.cells.context import CellContext, CellState
from rolloutcheck.cells.stages import serve, tracking
from rolloutcheck.core.settings import Settings
from rolloutcheck.envs import backends
from rolloutcheck.inputs import preflight
from rolloutcheck.spec.kinds import Side
from rolloutcheck.spec.results import CellResult, StageResult


def make_context(
    *, settings: Settings, config: preflight.CellConfig, venv: Path, cell_dir: Path, marker: str,
    python_missing: str | None, result: CellResult, log_prefix: str = "", python: str | None = None,
    reuse_models: bool = True,
) -> CellContext:  # fmt: skip
    """The frozen context of a cell whose inputs passed preflight; the backend choice is recorded."""
    try:
        backend, problem = backends.choose(settings.env_backend, settings.environ), None
    except backends.BackendError as error:
        backend, problem = None, str(error)
    result.env_backend = backend.name if backend else None
    return CellContext(
        config=config, backend=backend, backend_problem=problem, venv=venv, cell_dir=cell_dir, marker=marker,
        timeouts=settings.timeouts, environ=settings.process_environ(), python_missing=python_missing,
        limits=dataclasses.replace(settings.speed, **config.usecase.speed), cache=settings.cache,
        log_prefix=log_prefix, python=python,
        model_cache=settings.model_cache if reuse_models else None, retrain=settings.retrain,
    )  # fmt: skip


class ValidateCell:
    def __init__(self, started: lifecycle.Started):
        self.started, self.request = started, started.request
        self.state = CellState(started.result)
        self.ctx: CellContext | None = None

    def title(self) -> str:
        return f"{self.request.label.name} {self.request.variant}"

    def what(self) -> str:
        return "checking the use case, its probes and the label"

    def configure(self, record: StageResult) -> None:
        request, started = self.request, self.started
        config = preflight.check(request.label, request.variant)  # a ConfigError fails the config stage
        self.ctx = make_context(
            settings=request.settings, config=config, venv=request.venv, cell_dir=started.cell_dir,
            marker=started.marker, python_missing=request.python_missing, result=started.result,
            python=request.python,
        )  # fmt: skip
        backend = started.result.env_backend or "no"
        record.reason = f"{len(config.probes)} probes, {backend} backend, {preflight.project_note(config)}"

    def bind(self, side: Side) -> tuple[CellContext, CellState]:
        return self.ctx, self.state

    def known(self, stage: str) -> preflight.Candidates:
        return ()  # a validate cell's known breaks are per probe (expectation files), not per stage

    def cleanup(self) -> None:
        serve.stop(self.state)
        if self.ctx is not None:
            tracking.stop(self.ctx, self.state)
