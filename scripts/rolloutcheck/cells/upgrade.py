"""An upgrade cell: the use case trained and logged by the *from* label (production), then that
model served by the *to* label, two ways, with production's requests; and the use case retrained by the
*to* label, so production's server is timed against every path the team can take.

Its stages are declared in spec/kinds.py (UPGRADE): a trunk (both labels' envs, the *from*
model trained and served), then two branches: the old artifact in the *to* env (`local-`) and in
its own rebuilt env (`model-env-`). A written-down known break (probes/_defaults/upgrade.yaml,
probes/<usecase>/upgrade.yaml) turns a branch stage's failure into XFAIL.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from rolloutcheck.cells import lifecycle
from rolloutcheck.cells.context import CellContext, CellState, UpgradeState
from rolloutcheck.cells.stages import serve, tracking
from rolloutcheck.cells.stages.upgrade import oldmodel
from rolloutcheck.cells.validate import make_context
from rolloutcheck.core import paths
from rolloutcheck.core.errors import NotChecked
from rolloutcheck.envs import interpreter
from rolloutcheck.inputs import preflight, requirements
from rolloutcheck.inputs.registry import Label
from rolloutcheck.spec import layout
from rolloutcheck.spec.kinds import Side
from rolloutcheck.spec.results import PASS, CellResult, StageResult

RETRAINED = "retrained"  # the folder of the *to* label's own training (its store beside production's)


def source_venv(target_venv: Path, source: Label) -> Path:
    """The *from* side's environment, beside nox's session env (one per *to* label and use case, so
    that `make -j2 upgrades` never builds one env twice at once; uv hard-links, so it costs little)."""
    return target_venv.with_name(f"{target_venv.name}-from-{paths.slug(source.name)}")


class UpgradeCell:
    def __init__(self, started: lifecycle.Started):
        self.started, self.request = started, started.request
        source, result = self.request.source, started.result
        self.state = UpgradeState(
            result, CellState(CellResult(source.name, self.request.variant, str(started.cell_dir))), CellState(result)
        )
        self.contexts: dict[Side, CellContext] = {}

    def title(self) -> str:
        return f"{self.request.source.name} -> {self.request.label.name} {self.request.variant}"

    def what(self) -> str:
        request = self.request
        return f"checking {request.variant} for {request.source.name} and {request.label.name}"

    def configure(self, record: StageResult) -> None:
        request, started, state = self.request, self.started, self.state
        source, target, usecase = request.source, request.label, request.variant
        config = preflight.check_upgrade(source, target, usecase)  # a ConfigError fails the config stage
        on_production = layout.finished_cell(request.settings.run_dir, "validate", source.name, usecase)
        if on_production is not None and on_production.status != PASS:  # nothing of production's to break
            failed = on_production.failure()
            where = f"{failed.stage} - {failed.reason[:200]}" if failed else "a probe failed"
            raise NotChecked(f"{usecase} does not run on production ({source.name}) today: {where}")
        common = dict(
            cell_dir=started.cell_dir, marker=started.marker, result=started.result, settings=request.settings
        )
        python, missing = interpreter.interpreter_for(usecase, source)  # the Python production ran it on
        self.contexts = {
            Side.FROM: make_context(
                config=config.source,
                venv=source_venv(request.venv, source),
                log_prefix="from-",
                python=python,
                python_missing=missing,
                **common,
            ),
            Side.TO: make_context(
                config=config.target,
                venv=request.venv,
                log_prefix="to-",
                python=request.python,
                python_missing=request.python_missing,
                **common,
            ),  # fmt: skip
        }
        # the stages of both sides' results name their logs in full (logs/local-serve.log)
        self.contexts[Side.TO_ALL] = dataclasses.replace(self.contexts[Side.TO], log_prefix="")
        self.contexts[Side.RETRAINED] = dataclasses.replace(
            self.contexts[Side.TO], store_dir=started.cell_dir / RETRAINED
        )
        state.known = lambda stage: config.known(
            stage, state.source.result.mlflow_version, started.result.mlflow_version
        )
        pythons = [config.source.usecase.python_for(requirements.mlflow_version_of(x.mlflow)) for x in (source, target)]
        if pythons[0] != pythons[1]:  # the team moves to another Python with this mlflow: the model moves too
            started.result.upgrade["python"] = {"from": pythons[0], "to": pythons[1]}
        moved = f", Python {pythons[0]} -> {pythons[1]}" if pythons[0] != pythons[1] else ""
        record.reason = f"{len(config.source.probes)} probes, from {source.name} to {target.name}{moved}"

    def bind(self, side: Side) -> tuple[CellContext, object]:
        """One side's own state, or (FROM_ALL, TO_ALL) the whole cell's."""
        if side == Side.RETRAINED:
            return self.contexts[side], self.retrained()
        states = {Side.FROM: self.state.source, Side.TO: self.state.target}
        return self.contexts[side], states.get(side, self.state)

    def retrained(self) -> CellState:
        """The *to* side retraining the use case: the *to* environment, its own store and result (so the
        upgrade's run id and flavor stay production's model's), made once the *to* env exists."""
        state, ctx = self.state, self.contexts[Side.RETRAINED]
        if state.retrained is None or state.retrained.traits is None:
            target = state.target
            result = CellResult(self.request.label.name, self.request.variant, str(ctx.own_dir))
            result.mlflow_version = target.result.mlflow_version
            state.retrained = CellState(result, lock_file=target.lock_file, traits=target.traits,
                                        python_version=target.python_version)  # fmt: skip
            if target.environ is not None and target.traits is not None:
                ctx.own_dir.mkdir(parents=True, exist_ok=True)
                uri = target.traits.tracking_uri(ctx.own_dir)
                state.retrained.environ = {**target.environ, "MLFLOW_TRACKING_URI": uri}
        return state.retrained

    def known(self, stage: str) -> preflight.Candidates:
        return self.state.known(stage)

    def cleanup(self) -> None:
        state, result = self.state, self.started.result
        oldmodel.stop(state)
        serve.stop(state.source)
        if state.retrained is not None:
            serve.stop(state.retrained)  # the retrained model's server (speed)
        for side, side_state in ((Side.FROM, state.source), (Side.TO, state.target), (Side.RETRAINED, state.retrained)):
            if side_state is None:
                continue
            if side in self.contexts:
                tracking.stop(self.contexts[side], side_state)
        result.upgrade.setdefault("from_mlflow", state.source.result.mlflow_version)
        result.run_id, result.flavor = state.source.result.run_id, state.source.result.flavor
