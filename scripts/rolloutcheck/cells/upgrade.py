"""One upgrade cell: the use case trained and logged by the *from* label (production), then that
model served by the *to* label, two ways, with production's requests and speed side by side.

    config, from-lock, from-env, from-train, from-tracking, from-serve, to-lock, to-env  (one trunk)
    local-serve, local-probe, speed                                    (a branch: to env, old artifact)
    model-env-serve, model-env-probe                                   (a branch: the model's own env)

A failure in the trunk skips everything after it; in a branch, only the rest of that branch. A
written-down known break (probes/_defaults/upgrade.yaml, probes/<usecase>/upgrade.yaml) turns a
branch stage's failure into XFAIL. Cleanup and results are as for validate cells (cell.py).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from rolloutcheck.cells.context import CellContext, CellState, StageFailed, UpgradeState
from rolloutcheck.cells.runner import StageRunner
from rolloutcheck.cells.stages import env, lock, serve, tracking, train
from rolloutcheck.cells.stages.upgrade import oldmodel, replay
from rolloutcheck.cells.stages.upgrade import speed as speedcompare
from rolloutcheck.cells.validate import guarded, make_context, start_cell
from rolloutcheck.core import paths
from rolloutcheck.core.errors import ConfigError
from rolloutcheck.core.settings import Settings
from rolloutcheck.core.steplog import Printer, StepLog, stderr
from rolloutcheck.envs import interpreter
from rolloutcheck.inputs import preflight
from rolloutcheck.inputs.registry import Label
from rolloutcheck.models.results import CellResult


def _pipeline(runner: StageRunner, source: CellContext, target: CellContext, state: UpgradeState) -> None:
    runner.run(lock, source, state.source, "from-lock")
    runner.run(env, source, state.source, "from-env")
    runner.run(train, source, state.source, "from-train")
    runner.start(tracking, source, state.source, "from-tracking")  # beside the server's start-up
    runner.run(serve, source, state.source, "from-serve")
    runner.run(tracking, source, state.source, "from-tracking")
    runner.run(lock, target, state.target, "to-lock")
    runner.run(env, target, state.target, "to-env")
    branch = dataclasses.replace(target, log_prefix="")  # logs/<stage>.log, as the stages are named
    with runner.branch():
        runner.run(oldmodel.Local, branch, state)
        runner.run(replay.Local, branch, state)
        runner.run(speedcompare, branch, state)
    with runner.branch():
        runner.run(oldmodel.ModelEnv, branch, state)
        runner.run(replay.ModelEnv, branch, state)


def source_venv(target_venv: Path, source: Label) -> Path:
    """The *from* side's environment, beside nox's session env (one per *to* label and use case, so
    that `make -j2 upgrades` never builds one env twice at once; uv hard-links, so it costs little)."""
    return target_venv.with_name(f"{target_venv.name}-from-{paths.slug(source.name)}")


def run_upgrade_cell(
    source: Label, target: Label, usecase: str, venv: Path, settings: Settings, *,
    python_missing: str | None = None, printer: Printer = stderr,
) -> CellResult:  # fmt: skip
    cell_dir, marker = start_cell(settings, target.name, usecase, "upgrade", printer)
    result = CellResult(label=target.name, usecase=usecase, cell_dir=str(cell_dir), kind="upgrade",
                        from_label=source.name)  # fmt: skip
    state = UpgradeState(result, CellState(CellResult(source.name, usecase, str(cell_dir))), CellState(result))
    runner = StageRunner(result, StepLog(f"{source.name} -> {target.name} {usecase}", printer), cell_dir / "logs",
                         known=lambda stage: state.known(stage))  # fmt: skip
    contexts: dict[str, CellContext] = {}

    def configure(record) -> None:
        try:
            config = preflight.check_upgrade(source, target, usecase)
        except ConfigError as error:
            raise StageFailed(str(error)) from None
        base = make_context(settings, config.target, venv, cell_dir, marker, python_missing, result)
        python, _ = interpreter.interpreter_for(usecase)
        contexts["target"] = dataclasses.replace(base, log_prefix="to-")
        contexts["source"] = dataclasses.replace(
            base, config=config.source, venv=source_venv(venv, source), log_prefix="from-", python=python
        )
        state.known = lambda stage: config.known(stage, state.source.result.mlflow_version, result.mlflow_version)
        record.reason = f"{len(config.source.probes)} probes, from {source.name} to {target.name}"

    def body() -> None:
        if runner.step("config", f"checking {usecase} for {source.name} and {target.name}", configure):
            _pipeline(runner, contexts["source"], contexts["target"], state)

    def cleanup() -> None:
        oldmodel.stop(state)
        serve.stop(state.source)
        for side, ctx in (("source", contexts.get("source")), ("target", contexts.get("target"))):
            if ctx is not None:
                tracking.stop(ctx, getattr(state, side))
        result.upgrade.setdefault("from_mlflow", state.source.result.mlflow_version)
        result.run_id, result.flavor = state.source.result.run_id, state.source.result.flavor

    guarded(runner, marker, body, cleanup)
    return result
