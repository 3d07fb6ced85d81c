"""tracking: what tracking recorded, checked with the env's own mlflow, plus the oracle.

The check runs in the environment under test (inenv/check_run.py) and, for all but JVM-backed
models, beside the server's start-up: `start()` launches it before serve, `run()` waits for it.
Besides the tracking checks it computes the *oracle*: the model's own in-process predictions on
each probe's input, aligned by column name.

A cell that took a kept model (stages/reuse.py) also takes that model's kept check when nothing the
check reads changed (`check_key`: the check script, the spec but for where the cell is): the same
model, store and environment give the same report, so loading the model again would only repeat it.
A new or changed probe changes the key: the check runs and is kept for the next cell.
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
from rolloutcheck.probes import forms
from rolloutcheck.spec.results import StageResult
from rolloutcheck.stores import trained

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


@dataclass(frozen=True)
class KeptCheck:
    """The report of an earlier passing check of the same model and check inputs (not run again)."""

    report: CheckReport
    source: str  # `<run>/<group>/<cell>` where it ran


WHERE = ("tracking_uri", "store_dir", "work_dir")  # the spec's paths of the cell: not inputs of the check


def describe(ctx: CellContext) -> str:
    return "tracking and model checks with the env's own mlflow"


def start(ctx: CellContext, state: CellState) -> None:
    """Take the kept check of a kept model, or launch the check now, beside the server's start-up,
    unless the model needs a JVM: its h2o.init would race the server's for the one JVM both use."""
    state.check = _kept(ctx, state)
    if state.check is None and not ctx.usecase.needs_java:
        state.check = _launch(ctx, state)


def work_dir(ctx: CellContext) -> Path:
    return ctx.own_dir / f"{ctx.log_prefix}check"


def check_key(spec: dict) -> str:
    """What the check reads besides the model and its store: the script and the spec but the cell's paths."""
    inputs = {k: v for k, v in spec.items() if k not in WHERE}
    return trained.key_of({**inputs, "script": trained.file_digest(CHECK_SCRIPT)})


def _kept(ctx: CellContext, state: CellState) -> KeptCheck | None:
    """The kept check of this cell's model (only when the model itself was taken from the cache)."""
    if not state.reused_from or state.model_key is None or ctx.model_cache is None:
        return None
    key, started = check_key(spec_of(ctx, state)), time.monotonic()
    try:
        source, state.check_note = trained.take_check(ctx.model_cache / state.model_key, key, ctx.own_dir,
                                                      work_dir(ctx).name)  # fmt: skip
    except trained.CacheError as error:  # an optimisation that failed: the check runs
        state.check_note = error.reason
        return None
    if source is None:
        return None
    taken = max(round(time.monotonic() - started, 2), 0.01)  # the stage's time: taking it, not the server's start
    return KeptCheck(CheckReport.from_file(work_dir(ctx) / "out.json", taken), source)


def spec_of(ctx: CellContext, state: CellState) -> dict:
    state.need("traits", "environ", "run_id")
    usecase = ctx.usecase
    default_uri = state.traits.tracking_uri(ctx.own_dir)
    tracking_uri = state.environ.get("MLFLOW_TRACKING_URI", default_uri)  # a store check points it elsewhere
    return {
        "tracking_uri": tracking_uri,
        # the file-store layout is checked only for the cell's own store
        "store_kind": state.traits.store_kind if tracking_uri == default_uri else "other",
        "store_dir": str(ctx.own_dir / "mlruns"),
        "work_dir": str(work_dir(ctx)),
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


def _launch(ctx: CellContext, state: CellState) -> TrackingCheck:
    spec = spec_of(ctx, state)
    work = work_dir(ctx)
    work.mkdir()
    (work / "spec.json").write_text(json.dumps(spec, indent=2))
    out = work / "out.json"
    command = [str(ctx.prefix / "bin" / "python"), str(CHECK_SCRIPT), str(work / "spec.json"), str(out)]
    started = time.time()
    return TrackingCheck(ctx.launch(NAME, state.environ).start(command), out, started)


def _finished(ctx: CellContext, state: CellState) -> CheckReport:
    check = state.check = state.check or _launch(ctx, state)
    if isinstance(check, KeptCheck):
        return check.report
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
    record.details = {"check_cache": state.check_note} if state.check_note else {}
    record.details |= {"metrics": report.metrics, "flavors": list(report.flavors), "flavor": report.flavor,
                      "mlflow_version": report.mlflow_version, "model_uri": report.model_uri}  # fmt: skip
    if report.error or report.problems:
        raise StageFailed("; ".join(filter(None, [report.error, *report.problems])))
    record.reason = f"run FINISHED, params and metrics as expected, flavor {report.flavor}, model {report.model_uri}"
    if isinstance(state.check, KeptCheck):
        record.reason += f"; checked before in {state.check.source} (same model, probes and check)"
        record.details["check_reused_from"] = state.check.source
        return
    reuse.keep(ctx, state, record)  # a model trained here and checked: later cells with its inputs take it
    keep_check(ctx, state, record)


def keep_check(ctx: CellContext, state: CellState, record: StageResult) -> None:
    """After a passing check: keep it with its model, for cells that take the model and ask the same."""
    if state.model_key is None or ctx.model_cache is None or not reuse.applies(ctx, state):
        return
    spec = json.loads((work_dir(ctx) / "spec.json").read_text())
    try:
        kept = trained.keep_check(ctx.model_cache / state.model_key, check_key(spec), work_dir(ctx), ctx.own_dir,
                                  reuse.source_of(ctx))  # fmt: skip
    except trained.CacheError as error:  # an optimisation that failed: the cell's verdict stands
        record.details["check_cache"] = error.reason
        return
    record.details["check_cache"] = "kept" if kept else "kept already"


def stop(ctx: CellContext, state: CellState) -> None:
    if isinstance(state.check, TrackingCheck) and state.check.proc.poll() is None:
        ctx.launch(NAME, state.environ or {}).stop(state.check.proc)
