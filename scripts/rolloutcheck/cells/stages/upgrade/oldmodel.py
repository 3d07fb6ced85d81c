"""local-serve and model-env-serve: the model the *from* label logged, served by the *to* label.

- local: the *to* label's `mlflow models serve --env-manager local` (`--no-conda` on 1.x) in the *to*
  environment: the new platform's libraries load the old artifact.
- model-env: the *to* label's CLI rebuilds the model's logged environment (`--env-manager uv` where
  the *to* version has it, else `virtualenv`) under the project's cache, and serves from it. Which
  mlflow and libraries ended up inside is recorded: 1.x models logged `mlflow` unpinned, so the rebuild
  gets whatever release the index has that day; where that is not the label's, the label is checked on
  the same rebuild with `mlflow==<label>` pinned (the remedy, proven by that run) and the decision says so.
"""

from __future__ import annotations

import importlib.metadata
import os
from pathlib import Path

import psutil

from rolloutcheck.cells.context import CellContext, StageFailed, UpgradeState
from rolloutcheck.cells.stages import serve
from rolloutcheck.core import paths, procs, tools
from rolloutcheck.drivers import serving
from rolloutcheck.envs import install as environment
from rolloutcheck.spec import findings
from rolloutcheck.spec.results import StageResult

LIBRARIES = ("mlflow", "scikit-learn", "xgboost", "xgboost-cpu", "h2o", "tensorflow", "tensorflow-cpu", "keras",
             "pandas", "numpy", "cloudpickle")  # fmt: skip


def logged_model_dir(state: UpgradeState) -> str:
    state.source.need("report")
    if not state.source.report.model_dir:
        raise StageFailed("the from-tracking check did not record where the logged model is")
    return state.source.report.model_dir


def env_manager(prefix: Path) -> str:
    """`uv` where the *to* version's CLI has it, else `virtualenv` (read off its own source)."""
    for source in prefix.glob("lib/python*/site-packages/mlflow/utils/env_manager.py"):
        if 'UV = "uv"' in source.read_text():
            return "uv"
    return "virtualenv"


class Local:
    """The *to* label's `mlflow models serve --env-manager local` (`--no-conda` on 1.x) loads the old
    logged model in the *to* environment."""

    NAME = "local-serve"

    @staticmethod
    def describe(ctx: CellContext) -> str:
        return f"mlflow {ctx.label.name} serves the logged model in its own environment"

    @staticmethod
    def run(ctx: CellContext, state: UpgradeState, record: StageResult) -> None:
        state.target.need("traits", "environ")
        command = serving.serve_command(ctx.prefix, logged_model_dir(state), state.target.traits.local_env_flags)
        state.local = serve.start(command, ctx.launch("local-serve", state.target.environ), ctx.timeouts.serve)
        record.reason = f"healthy on {state.local.url}"


class ModelEnv:
    """The *to* label's CLI rebuilds the old model's logged environment (`--env-manager uv` where it
    has it, else `virtualenv`) and serves from it."""

    NAME = "model-env-serve"

    @staticmethod
    def describe(ctx: CellContext) -> str:
        return f"mlflow {ctx.label.name} rebuilds the model's logged environment and serves from it"

    @staticmethod
    def run(ctx: CellContext, state: UpgradeState, record: StageResult) -> None:
        state.target.need("traits", "environ")
        manager = env_manager(ctx.prefix)
        model_dir = logged_model_dir(state)
        root = (ctx.cache or ctx.cell_dir) / "mlflow-envs"
        as_of = state.target.environ.get("UV_EXCLUDE_NEWER")
        if as_of:  # mlflow names an env by the model's requirements only: one resolved as of a date is kept apart
            root = root / f"as-of-{paths.slug(as_of)}"
        command = serving.serve_command(ctx.prefix, model_dir, ["--env-manager", manager])
        record.details["env_manager"] = manager
        # as production would: the model's requirements as logged, resolved against the index of the day
        state.model_env, inside = _serve(ctx, state, command, root, "model-env-serve", f"--env-manager {manager}: ")
        label_mlflow = environment.installed_version(ctx.prefix)  # the version under test, as its environment holds it
        got = inside.get("mlflow")
        if label_mlflow and got and got != label_mlflow:
            # 1.x models logged `mlflow` unpinned: the rebuild got another release than the one rolled out, so
            # the label was not what served. The remedy, run here: the same rebuild with mlflow pinned to the
            # label (its own env folder: mlflow names an env by the model's requirements, which are unchanged).
            state.model_env.stop()
            state.model_env = None
            pin = f"mlflow=={label_mlflow}"
            constraints = ctx.cell_dir / "model-env-pin.txt"
            constraints.write_text(pin + "\n")
            unpinned = {k: v for k, v in inside.items() if k != "packages"}
            state.model_env, inside = _serve(
                ctx, state, command, root / f"pinned-mlflow-{label_mlflow}", "model-env-serve-pinned",
                f"--env-manager {manager} with `{pin}` pinned: ", constraints,
            )  # fmt: skip
            inside["unpinned"] = unpinned | {"pin": pin}
        state.result.upgrade["model_env"] = inside
        record.details.update({k: v for k, v in inside.items() if k != "unpinned"})
        logged = "python_env.yaml" if (Path(model_dir) / "python_env.yaml").is_file() else "conda.yaml only"
        record.reason = (f"healthy on {state.model_env.url} (--env-manager {manager}, from the model's {logged}; "
                         f"mlflow {inside.get('mlflow', '?')} inside)")  # fmt: skip
        if "unpinned" in inside:
            record.details["unpinned"] = inside["unpinned"]
            record.reason += (f"; {findings.unpinned_mlflow(got, label_mlflow)}: served with `mlflow=={label_mlflow}` "
                              "pinned instead")  # fmt: skip
        state.result.upgrade["model_env"]["logged_environment"] = logged


def _serve(
    ctx: CellContext, state: UpgradeState, command: list[str], root: Path, role: str, what: str,
    constraints: Path | None = None,
) -> tuple[serving.Server, dict]:  # fmt: skip
    """The *to* CLI rebuilds the model's environment under `root` (with `constraints` applied to every
    install: uv and pip read them from the environment) and serves from it: the server and what it holds."""
    root.mkdir(parents=True, exist_ok=True)
    environ = {**state.target.environ, "MLFLOW_ENV_ROOT": str(root)}
    # mlflow's `--env-manager uv` runs `uv` from PATH: the tool's own, wherever nox was started from
    environ["PATH"] = os.pathsep.join([str(Path(tools.uv_bin()).parent), environ.get("PATH", os.defpath)])
    if constraints is not None:
        environ |= {"UV_CONSTRAINT": str(constraints), "PIP_CONSTRAINT": str(constraints)}
    launch = ctx.launch(role, environ)
    # mlflow takes an env folder that exists as made: a second cell (make -j2) whose model logged the
    # same requirements would serve from one half built. One cell at a time builds and starts.
    with environment.exclusive(root):
        try:
            server = serve.start(command, launch, ctx.timeouts.model_env, what)
        except StageFailed as failure:
            raise StageFailed(failure.reason, launch.log) from None
    return server, _inside(server, root)


def _inside(server: serving.Server, root: Path) -> dict:
    """Which environment under `root` the server's processes run in, and what it holds."""
    prefixes = set()
    for proc in procs.marked(server.launch.marker, server.launch.role):
        try:  # a venv's python is a symlink: its command line and VIRTUAL_ENV name the env, not exe()
            candidates = [proc.environ().get("VIRTUAL_ENV", ""), *proc.cmdline()]
        except psutil.Error:
            continue
        for text in candidates:
            path = Path(text) if text.startswith("/") else None
            if path is not None and root in path.parents:
                prefixes.add(root / path.relative_to(root).parts[0])
    found: dict = {"env": None, "packages": {}}
    for prefix in sorted(prefixes):
        found["env"] = str(prefix)
        for site in prefix.glob("lib/python*/site-packages"):
            for dist in importlib.metadata.distributions(path=[str(site)]):
                name = (dist.metadata["Name"] or "").lower()
                if name:
                    found["packages"][name] = dist.version
    for name in LIBRARIES:
        if name in found["packages"]:
            found[name] = found["packages"][name]
    return found


def stop(state: UpgradeState) -> None:
    for server in (state.local, state.model_env):
        if server is not None:
            server.stop()
