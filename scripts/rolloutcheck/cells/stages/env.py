"""env: the cell's environment holds exactly its lock (reused when it already does)."""

from __future__ import annotations

from pathlib import Path

from packaging.version import InvalidVersion, Version

from rolloutcheck.cells.context import CellContext, CellState, StageFailed
from rolloutcheck.drivers.traits import Traits
from rolloutcheck.envs import install as environment
from rolloutcheck.spec.results import StageResult

NAME = "env"


def describe(ctx: CellContext) -> str:
    return f"{ctx.backend.name if ctx.backend else '?'} environment {ctx.prefix}"


def process_environ(ctx: CellContext, traits: Traits) -> dict[str, str]:
    """What every process of the cell runs with: the env first on PATH and a private tracking store."""
    runtime = ctx.cell_dir / "runtime"  # gunicorn's control socket and other per-user files
    runtime.mkdir(exist_ok=True)
    return {
        **ctx.environ,
        "PATH": f"{ctx.prefix / 'bin'}:{ctx.environ.get('PATH', '')}",  # `mlflow run` uses the python on PATH
        "VIRTUAL_ENV": str(ctx.prefix),
        "MLFLOW_TRACKING_URI": traits.tracking_uri(ctx.cell_dir),
        "XDG_RUNTIME_DIR": str(runtime),
        "PYTHONNOUSERSITE": "1",
        "GIT_PYTHON_REFRESH": "quiet",
    }


def build(ctx: CellContext, lock_file: Path) -> bool:
    """Create the cell's environment when it has none and fill it from the lock, one cell at a time (cells
    of one session, or the store cells of a label, share it); whether anything was installed."""
    with environment.exclusive(ctx.venv):
        if ctx.python:
            ctx.backend.create(ctx.venv, ctx.python, ctx.log(NAME))
        return ctx.backend.install(ctx.label, lock_file, ctx.prefix, ctx.log(NAME))


def run(ctx: CellContext, state: CellState, record: StageResult) -> None:
    state.need("lock_file")
    if ctx.python_missing and not ctx.backend.builds_python:
        raise StageFailed(ctx.python_missing)
    if ctx.usecase.needs_java:
        java = environment.java_version()
        if java is None:
            raise StageFailed("Java not found: this use case needs a JDK (`java -version` failed or is missing)")
        record.details["java"] = java
    # an EnvError or LockError (Python or install failed) fails the stage with its reason
    installed = build(ctx, state.lock_file)
    record.reason = "installed from lock" if installed else "reused: lock unchanged, nothing installed"
    record.details["reused"] = not installed
    version = environment.installed_version(ctx.prefix)
    if version is None:
        raise StageFailed("mlflow is not installed in the environment after install")
    try:
        state.traits = Traits(Version(version))
    except InvalidVersion:
        raise StageFailed(f"installed mlflow has a version that is not PEP 440: {version!r}") from None
    state.result.mlflow_version = version
    state.environ = process_environ(ctx, state.traits)
