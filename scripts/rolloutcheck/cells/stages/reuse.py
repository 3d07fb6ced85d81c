"""Reusing a trained model: the key of a cell's train stage, and taking or keeping the model behind it.

The key digests every input training depends on: the resolved lock, the use case folder's content
(MLproject, conda.yaml, code, data, usecase.yaml), the params, the env backend, the mlflow version
installed, the environment's Python and, for a model trained in a JVM (h2o), the Java version. A cell
whose key has a verified entry in the cache (stores/trained.py) takes that model and its tracking store
instead of running `mlflow run`; the tracking check, the server, the probes and the speed check run as
always, on the copy. A model is kept only after its tracking check passed. Only a cell's own private
store is reused: a store check trains into the store it checks, so it always trains.
"""

from __future__ import annotations

import subprocess

from rolloutcheck.cells.context import CellContext, CellState
from rolloutcheck.envs import install as environment
from rolloutcheck.envs.marker import lock_digest
from rolloutcheck.spec.results import StageResult
from rolloutcheck.stores import trained

SCHEMA = 2  # bumped when what a cache entry holds changes: older entries are then never matched


def python_version(ctx: CellContext) -> str:
    done = subprocess.run([str(ctx.prefix / "bin" / "python"), "-c", "import sys; print(sys.version)"],
                          capture_output=True, text=True, timeout=60)  # fmt: skip
    return done.stdout.strip() or f"unknown (exit {done.returncode})"


def inputs(ctx: CellContext, state: CellState) -> dict:
    state.need("lock_file", "traits")
    return {
        "schema": SCHEMA, "lock": lock_digest(state.lock_file), "usecase": trained.folder_digest(ctx.usecase.folder),
        "params": ctx.usecase.params, "backend": ctx.backend.name if ctx.backend else None,
        "mlflow": state.result.mlflow_version, "python": python_version(ctx),
        "java": environment.java_version() if ctx.usecase.needs_java else None,  # h2o trains in the JVM
    }  # fmt: skip


def applies(ctx: CellContext, state: CellState) -> bool:
    """Whether this cell trains into its own private store (the only kind that is kept and reused)."""
    state.need("traits", "environ")
    own = state.traits.tracking_uri(ctx.own_dir)
    return ctx.model_cache is not None and state.environ.get("MLFLOW_TRACKING_URI", own) == own


def source_of(ctx: CellContext) -> str:
    """`<run>/<group>/<cell>`: where a kept model came from, as the stage's reason says it."""
    return "/".join(ctx.cell_dir.parts[-3:])


def take(ctx: CellContext, state: CellState, record: StageResult) -> bool:
    """Restore the cached model of this cell's key into the cell; whether it did (else: train)."""
    if not applies(ctx, state):
        return False
    state.model_inputs = inputs(ctx, state)
    state.model_key = trained.key_of(state.model_inputs)
    record.details["model_key"] = state.model_key
    if ctx.retrain:
        record.details["reuse"] = "ROLLOUT_RETRAIN=1: trained again"
        return False
    entry, problem = trained.lookup(ctx.model_cache, state.model_key)
    if problem:
        record.details["reuse"] = f"{problem}: trained again"
    if entry is None:
        return False
    trained.restore(entry, ctx.own_dir)  # a CacheError fails the stage, naming the entry
    state.run_id, state.reused_from = entry.run_id, entry.source
    record.details.update({"reused_from": entry.source, "model_inputs": entry.inputs})
    record.reason = f"run {entry.run_id}, reused from {entry.source} (inputs unchanged)"
    return True


def keep(ctx: CellContext, state: CellState, record: StageResult) -> None:
    """After a passing tracking check: keep a newly trained model for later cells with the same key."""
    if state.model_key is None or state.reused_from or not applies(ctx, state):
        return
    try:
        entry = trained.store(ctx.model_cache, state.model_key, state.model_inputs or {}, ctx.own_dir,
                              state.run_id, source_of(ctx))  # fmt: skip
    except trained.CacheError as error:  # an optimisation that failed: the cell's verdict stands
        record.details["model_cache"] = error.reason
        return
    record.details["model_cache"] = f"kept as {state.model_key}" if entry else "already kept by another cell"
