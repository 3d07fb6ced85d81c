"""One cell, a (label, use case) pair, end to end: lock, env, train, tracking, serve, probe.

Every stage ends as a StageResult with a one-line reason and its log; a failed stage marks the
rest skipped. Whatever happens (failure, timeout, Ctrl-C, SIGTERM) every process the cell
started is stopped and cell.json is written.
"""

from __future__ import annotations

import functools
import json
import os
import subprocess
import time
import traceback
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from packaging.version import Version

from . import (
    backends,
    conda_backend,
    curl,
    environment,
    envspec,
    expectations,
    locks,
    paths,
    probing,
    procs,
    project,
    results,
    serving,
)
from .registry import Label
from .results import FAIL, PASS, SKIP, XFAIL, XPASS, CellResult, StageResult
from .steplog import Printer, StepLog, _stderr
from .traits import Traits
from .usecases import UseCase

CHECK_SCRIPT = Path(__file__).parent / "inenv" / "check_run.py"


@dataclass
class Timeouts:
    train: float = float(os.environ.get("ROLLOUT_TRAIN_TIMEOUT", 900))
    serve: float = float(os.environ.get("ROLLOUT_SERVE_TIMEOUT", 180))
    tracking: float = float(os.environ.get("ROLLOUT_TRACKING_TIMEOUT", 300))


class StageFailed(Exception):
    def __init__(self, reason: str, log: Path | None = None):
        super().__init__(reason)
        self.reason = reason
        self.log = log


@dataclass
class Stages:
    """Records stages into a CellResult, timing each and skipping all after a failure."""

    result: CellResult
    steps: StepLog
    logs: Path
    failed: str | None = None

    def log(self, stage: str) -> Path:
        return self.logs / f"{stage}.log"

    @contextmanager
    def stage(self, name: str, what: str = ""):
        if self.failed:
            self.result.stages.append(StageResult(name, SKIP, f"skipped: stage {self.failed} failed"))
            raise _Skip
        record = StageResult(name, PASS, log=str(self.log(name)))
        started = self.steps.begin(name, what)
        try:
            yield record
        except StageFailed as failure:
            record.status, record.reason = FAIL, failure.reason
            record.log = str(failure.log or record.log)
            self.failed = name
        except KeyboardInterrupt:
            record.status, record.reason = FAIL, "interrupted (Ctrl-C or SIGTERM)"
            self.failed = name
            raise
        except Exception as error:  # noqa: BLE001 - a bug or an unforeseen failure still ends as a result
            with self.log(name).open("a") as out:
                out.write(traceback.format_exc())
            record.status, record.reason = FAIL, f"unexpected {type(error).__name__}: {error}"
            self.failed = name
        finally:
            waited = self.steps.end(name, started, record.status, record.reason)
            record.seconds = round(record.seconds or waited, 2)  # a stage run in the background sets its own
            if not Path(record.log).exists():
                record.log = None
            self.result.stages.append(record)
        if record.status == FAIL:
            raise _Skip


class _Skip(Exception):
    """Internal: unwinds the pipeline after a failed stage."""


def probe_frame(request: curl.Request) -> dict | None:
    """The columns/data a probe sends, for the oracle; None when the body is not a frame."""
    try:
        body = json.loads(request.body or "")
    except ValueError:
        return None
    if isinstance(body, dict) and isinstance(body.get("dataframe_split"), dict):
        body = body["dataframe_split"]
    if isinstance(body, dict) and "dataframe_records" in body:
        records = body["dataframe_records"]
        columns = list(records[0]) if records else []
        return {"columns": columns, "data": [[r[c] for c in columns] for r in records]}
    if isinstance(body, dict) and isinstance(body.get("columns"), list) and isinstance(body.get("data"), list):
        return {"columns": body["columns"], "data": body["data"]}
    return None


def run_cell(
    label: Label, usecase: UseCase, venv: Path, *, python_missing: str | None = None,
    run: Path | None = None, printer: Printer = _stderr, timeouts: Timeouts | None = None,
) -> CellResult:  # fmt: skip
    run = run or results.run_dir()
    cell_dir = results.new_cell_dir(run, label.name, usecase.name)
    logs = cell_dir / "logs"
    logs.mkdir()
    result = CellResult(label=label.name, usecase=usecase.name, cell_dir=str(cell_dir))
    stages = Stages(result, StepLog(f"{label.name} {usecase.name}", printer), logs)
    marker = procs.new_marker()
    try:
        with procs.sigterm_as_interrupt():
            _pipeline(label, usecase, venv, python_missing, cell_dir, stages, marker, timeouts or Timeouts())
    except _Skip:
        pass
    finally:
        procs.stop(None, marker)
        done = {s.stage for s in result.stages}
        for stage in results.STAGES:
            if stage not in done:
                why = f"stage {stages.failed} failed" if stages.failed else "run ended early"
                result.stages.append(StageResult(stage, SKIP, f"skipped: {why}"))
        # Tracking runs beside the server's start-up; list it before serve, as in the lifecycle.
        result.stages.sort(key=lambda s: results.STAGES.index(s.stage))
        result.write()
    return result


def _pipeline(label, usecase, venv, python_missing, cell_dir, stages: Stages, marker, timeouts: Timeouts):
    result = stages.result
    try:
        backend = backends.choose()
    except backends.BackendError as error:
        result.stages.append(StageResult("lock", SKIP, "skipped: no usable environment backend (see env)"))
        with stages.stage("env", "choosing the environment backend"):
            raise StageFailed(str(error)) from None
    result.env_backend = backend.name
    if backend.name == "conda":
        venv, lock_file = _conda_lock_and_env(label, usecase, venv, backend.executable, stages)
    else:
        lock_file = _uv_lock(label, usecase, stages)
    with stages.stage("env", f"{backend.name} environment {venv}") as record:
        if python_missing and backend.name == "uv":
            raise StageFailed(f"Python {python_missing} named in conda.yaml is not installed on this machine")
        if usecase.needs_java:
            java = environment.java_version()
            if java is None:
                raise StageFailed("Java not found: this use case needs a JDK (`java -version` failed or is missing)")
            record.details["java"] = java
        try:
            if backend.name == "conda":
                installed = conda_backend.install(lock_file, venv, backend.executable, stages.log("env"))
            else:
                installed = environment.sync(venv, lock_file, stages.log("env"), label.index_url)
        except (environment.EnvError, locks.LockError) as error:
            raise StageFailed(str(error)) from None
        record.reason = "installed from lock" if installed else "reused: lock unchanged, nothing installed"
        record.details["reused"] = not installed
        version = environment.installed_version(venv)
        if version is None:
            raise StageFailed("mlflow is not installed in the environment after sync")
        result.mlflow_version = version
        traits = Traits(Version(version))

    env = project.cell_environ(dict(os.environ), venv, traits.tracking_uri(cell_dir), cell_dir)
    with stages.stage("train", f"mlflow run {usecase.name}") as record:
        workdir = project.copy_project(usecase.folder, cell_dir / "project")
        try:
            result.run_id = project.run(
                venv, workdir, usecase.params, traits, env, cell_dir, stages.log("train"), marker, timeouts.train
            )
        except project.TrainError as error:
            raise StageFailed(str(error)) from None
        record.reason = f"run {result.run_id}"

    probes = _load_probes(usecase, result.mlflow_version)

    def start_check() -> dict:
        return _start_check(venv, usecase, traits, cell_dir, result.run_id, probes, env, stages.log("tracking"), marker)

    # The check runs beside the server's start-up, except for JVM-backed models: their h2o.init
    # would race the server's for the one JVM both are configured to use.
    check = None if usecase.needs_java else start_check()
    server = None
    try:
        model_uri = f"runs:/{result.run_id}/{usecase.model_path}"
        with stages.stage("serve", f"mlflow models serve {model_uri}") as record:
            try:
                server = serving.start_healthy(
                    venv, model_uri, traits, env, cell_dir, stages.log("serve"), marker, timeouts.serve
                )
            except serving.ServeError as error:
                raise StageFailed(str(error)) from None
            record.reason = f"healthy on {server.url}"
            record.details["url"] = server.url
        with stages.stage("tracking", "tracking and model checks with the env's own mlflow") as record:
            check = check or start_check()
            report = _finish_check(check, timeouts.tracking)
            record.seconds = report["seconds"]
            result.flavor = report.get("flavor")
            record.details = {k: report.get(k) for k in ("metrics", "flavors", "flavor", "mlflow_version")}
            if report.get("error") or report.get("problems"):
                raise StageFailed("; ".join(filter(None, [report.get("error"), *report.get("problems", [])])))
            record.reason = f"run FINISHED, params and metrics as expected, flavor {result.flavor}"
            record.seconds = report["seconds"]
        with stages.stage("probe", f"{len(probes)} stored requests") as record:
            _run_probes(probes, report, server, result, stages.log("probe"))
            counts = {}
            for p in result.probes:
                counts[p.status] = counts.get(p.status, 0) + 1
            record.reason = ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
            failed = [p for p in result.probes if p.status == FAIL]
            if failed:
                raise StageFailed(f"{failed[0].name}: {failed[0].reason}")
    finally:
        if server is not None:
            server.stop()
        if check is not None and check["proc"].poll() is None:
            procs.stop(check["proc"], marker)


LockPlan = tuple[Path, "locks.LockState", Callable[[Path], object], str]  # lock, state, make(log), refresh


def _lock_stage(stages: Stages, what: str, plan: Callable[[], LockPlan]) -> Path:
    """The lock stage of either backend: fresh passes, stale fails with the refresh command,
    missing (a new label or use case) is locked now."""
    with stages.stage("lock", what) as record:
        lock_file, state, make, refresh = plan()
        record.details["lock"] = str(lock_file)
        if state is locks.LockState.STALE:
            raise StageFailed(
                f"stale lock {lock_file.relative_to(paths.ROOT)}: its inputs changed; refresh with `{refresh}`"
            )
        if state is locks.LockState.MISSING:
            try:
                make(stages.log("lock"))
            except locks.LockError as error:
                raise StageFailed(error.reason, error.log) from None
            record.reason = f"created {lock_file} (new label or use case): commit it"
        else:
            record.reason = "lock up to date"
    return lock_file


def _uv_lock(label: Label, usecase: UseCase, stages: Stages) -> Path:
    def plan() -> LockPlan:
        try:
            inputs = envspec.lock_inputs(usecase, label)
        except (envspec.EnvSpecError, OSError, ValueError) as error:
            raise StageFailed(f"cannot derive requirements: {error}") from None
        stages.result.python = inputs.python
        return (locks.files_for(inputs).lock, locks.state(inputs), functools.partial(locks.lock, inputs),
                locks.refresh_command(label.name))  # fmt: skip

    return _lock_stage(stages, f"checking envs/{usecase.name}/{label.name}", plan)


def _conda_lock_and_env(label: Label, usecase: UseCase, venv: Path, exe: str, stages: Stages) -> tuple[Path, Path]:
    """The conda lock for the cell, and the prefix its environment lives in (beside nox's venv)."""

    def plan() -> LockPlan:
        _, lock_file = conda_backend.files(usecase.name, label.name)
        return (lock_file, conda_backend.state(usecase, label),
                functools.partial(conda_backend.lock, usecase, label, exe),
                f"ENV_BACKEND=conda {locks.refresh_command(label.name)}")  # fmt: skip

    lock_file = _lock_stage(stages, f"conda-lock envs/{usecase.name}/{label.name}", plan)
    return venv.with_name(f"{venv.name}-conda"), lock_file


@dataclass
class LoadedProbe:
    probe: probing.Probe
    request: curl.Request | None = None
    expectation: expectations.Expectation | None = None
    error: str | None = None


def _load_probes(usecase: UseCase, version: str) -> list[LoadedProbe]:
    loaded = []
    for probe in probing.discover(usecase.probes_dir):
        item = LoadedProbe(probe)
        try:
            item.request = curl.load(probe.request_file)
            item.expectation = expectations.select(expectations.load(probe.expect_file), version)
            if item.expectation is None:
                item.error = f"{probe.expect_file}: no entry matches mlflow {version}"
        except (curl.CurlError, expectations.ExpectationError) as error:
            item.error = f"bad probe file: {error}"
        loaded.append(item)
    return loaded


def _start_check(venv, usecase, traits, cell_dir, run_id, probes, env, log, marker) -> dict:
    work = cell_dir / "check"
    work.mkdir()
    spec = {
        "tracking_uri": traits.tracking_uri(cell_dir),
        "store_kind": traits.store_kind,
        "store_dir": str(cell_dir / "mlruns"),
        "work_dir": str(work),
        "run_id": run_id,
        "model_path": usecase.model_path,
        "params": usecase.params,
        "metrics": list(usecase.metrics),
        "flavor": usecase.flavor,
        "fallback_flavors": list(usecase.fallback_flavors),
        "features": list(usecase.features),
        "probes": {p.probe.name: frame for p in probes if p.request and (frame := probe_frame(p.request))},
    }
    (work / "spec.json").write_text(json.dumps(spec, indent=2))
    out = work / "out.json"
    command = [str(venv / "bin" / "python"), str(CHECK_SCRIPT), str(work / "spec.json"), str(out)]
    started = time.time()
    return {"proc": procs.start(command, log, env, cell_dir, marker), "out": out, "started": started}


def _finish_check(check: dict, timeout: float) -> dict:
    try:
        check["proc"].wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        raise StageFailed(f"tracking check did not finish in {timeout:.0f}s") from None
    if not check["out"].is_file():
        raise StageFailed(f"tracking check crashed (exit {check['proc'].returncode})")
    report = json.loads(check["out"].read_text())
    # it ran beside the server's start-up: its own duration is start to output written
    report["seconds"] = round(check["out"].stat().st_mtime - check["started"], 2)
    return report


def _run_probes(probes: list[LoadedProbe], report: dict, server, result: CellResult, log: Path) -> None:
    with log.open("a") as out:
        for item in probes:
            if item.error:
                source = str(item.probe.request_file)
                result.probes.append(results.ProbeResult(item.probe.name, FAIL, item.error, request=source))
                continue
            oracle = report.get("oracle", {}).get(item.probe.name)
            if oracle is None and item.probe.name in report.get("oracle_errors", {}):
                out.write(f"oracle for {item.probe.name} failed: {report['oracle_errors'][item.probe.name]}\n")
            request = item.request.for_server(serving.HOST, server.port)
            result.probes.append(probing.run_probe(item.probe, request, item.expectation, oracle, out))


def print_summary(result: CellResult, printer: Printer = _stderr) -> None:
    marks = {PASS: "PASS", FAIL: "FAIL", SKIP: "skip", XFAIL: "XFAIL", XPASS: "XPASS"}
    printer(f"== {result.label} x {result.usecase}: {result.status.upper()} (mlflow {result.mlflow_version})")
    for stage in result.stages:
        printer(f"   {stage.stage:<9}{marks[stage.status]:<6}{stage.seconds:>7.1f}s  {stage.reason}")
    for probe in result.probes:
        printer(f"   probe {probe.name}: {marks[probe.status]} - {probe.reason}")
    printer(f"   results: {result.cell_dir}")
