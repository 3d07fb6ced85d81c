"""tracking: what tracking recorded, checked with the env's own mlflow, plus the oracle.

The check runs in the environment under test (inenv/check_run.py) and, for all but JVM-backed
models, beside the server's start-up: `start()` launches it before serve, `run()` waits for it.
Besides the tracking checks it computes the *oracle*: the model's own in-process predictions on
each probe's input, aligned by column name.
"""

from __future__ import annotations

import json
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from rolloutcheck.cells.context import CellContext, CellState, StageFailed
from rolloutcheck.cells.stages import reuse
from rolloutcheck.core import paths
from rolloutcheck.models.results import StageResult
from rolloutcheck.probes import forms

NAME = "tracking"
EXAMPLE_PROBE = "logged-input-example"  # the probe made of the example the model logged
CHECK_SCRIPT = paths.INENV / "check_run.py"


@dataclass(frozen=True)
class TrackingCheck:
    """The check process, where it writes its report, and when it started."""

    proc: subprocess.Popen
    out: Path
    started: float


@dataclass(frozen=True)
class CheckReport:
    """What check_run.py found (its out.json, typed)."""

    mlflow_version: str | None = None
    problems: tuple[str, ...] = ()
    error: str | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    flavors: tuple[str, ...] = ()
    flavor: str | None = None
    oracle: dict[str, list] = field(default_factory=dict)
    oracle_errors: dict[str, str] = field(default_factory=dict)
    model_dir: str | None = None  # the model as logged, downloaded into the cell folder
    model_uri: str | None = None  # where the label's own client found it (models:/<id> on 3.x)
    input_example: dict | None = None  # the example the model logged, as a probes/forms payload
    seconds: float = 0.0

    @classmethod
    def from_file(cls, path: Path, seconds: float) -> CheckReport:
        raw = json.loads(path.read_text())
        return cls(
            mlflow_version=raw.get("mlflow_version"),
            problems=tuple(raw.get("problems") or ()),
            error=raw.get("error"),
            metrics=dict(raw.get("metrics") or {}),
            flavors=tuple(raw.get("flavors") or ()),
            flavor=raw.get("flavor"),
            oracle=dict(raw.get("oracle") or {}),
            oracle_errors=dict(raw.get("oracle_errors") or {}),
            model_dir=raw.get("model_dir"),
            model_uri=raw.get("model_uri"),
            input_example=raw.get("input_example"),
            seconds=seconds,
        )


def describe(ctx: CellContext) -> str:
    return "tracking and model checks with the env's own mlflow"


def start(ctx: CellContext, state: CellState) -> None:
    """Launch the check now, beside the server's start-up, unless the model needs a JVM: its
    h2o.init would race the server's for the one JVM both are configured to use."""
    if not ctx.usecase.needs_java:
        state.check = _launch(ctx, state)


def _launch(ctx: CellContext, state: CellState) -> TrackingCheck:
    state.need("traits", "environ", "run_id")
    work = ctx.cell_dir / f"{ctx.log_prefix}check"
    work.mkdir()
    usecase = ctx.usecase
    default_uri = state.traits.tracking_uri(ctx.cell_dir)
    tracking_uri = state.environ.get("MLFLOW_TRACKING_URI", default_uri)  # a store check points it elsewhere
    spec = {
        "tracking_uri": tracking_uri,
        # the file-store layout is checked only for the cell's own store
        "store_kind": state.traits.store_kind if tracking_uri == default_uri else "other",
        "store_dir": str(ctx.cell_dir / "mlruns"),
        "work_dir": str(work),
        "run_id": state.run_id,
        "model_path": usecase.model_path,
        "params": usecase.expected_params,
        "metrics": list(usecase.metrics),
        "flavor": usecase.flavor,
        "fallback_flavors": list(usecase.fallback_flavors),
        "features": list(usecase.features),
        "probes": {p.name: payload for p in ctx.config.probes if (payload := forms.of(p.request))},
        "example_probe": EXAMPLE_PROBE,
    }
    (work / "spec.json").write_text(json.dumps(spec, indent=2))
    out = work / "out.json"
    command = [str(ctx.prefix / "bin" / "python"), str(CHECK_SCRIPT), str(work / "spec.json"), str(out)]
    started = time.time()
    return TrackingCheck(ctx.launch(NAME, state.environ).start(command), out, started)


def _finished(ctx: CellContext, state: CellState) -> CheckReport:
    check = state.check = state.check or _launch(ctx, state)
    try:
        check.proc.wait(timeout=ctx.timeouts.tracking)
    except subprocess.TimeoutExpired:
        raise StageFailed(f"tracking check did not finish in {ctx.timeouts.tracking:.0f}s") from None
    if not check.out.is_file():
        raise StageFailed(f"tracking check crashed (exit {check.proc.returncode})")
    # it ran beside the server's start-up: its own duration is start to report written
    return CheckReport.from_file(check.out, round(check.out.stat().st_mtime - check.started, 2))


def model_uri(ctx: CellContext, state: CellState) -> str:
    """The model a server serves: `runs:/<id>/<model_path>` when the use case names the path (3.x
    resolves it to the LoggedModel), else the one model the check found (waiting for it)."""
    if ctx.usecase.model_path:
        return f"runs:/{state.run_id}/{ctx.usecase.model_path}"
    report = _finished(ctx, state)
    if not report.model_uri:
        raise StageFailed("no model to serve: " + "; ".join(filter(None, [report.error, *report.problems])))
    return report.model_uri


def run(ctx: CellContext, state: CellState, record: StageResult) -> None:
    report = _finished(ctx, state)
    state.report = report
    state.result.flavor = report.flavor
    record.seconds = report.seconds
    record.details = {"metrics": report.metrics, "flavors": list(report.flavors), "flavor": report.flavor,
                      "mlflow_version": report.mlflow_version, "model_uri": report.model_uri}  # fmt: skip
    if report.error or report.problems:
        raise StageFailed("; ".join(filter(None, [report.error, *report.problems])))
    record.reason = f"run FINISHED, params and metrics as expected, flavor {report.flavor}, model {report.model_uri}"
    reuse.keep(ctx, state, record)  # a model trained here and checked: later cells with its inputs take it


def stop(ctx: CellContext, state: CellState) -> None:
    if state.check is not None and state.check.proc.poll() is None:
        ctx.launch(NAME, state.environ or {}).stop(state.check.proc)
