"""tracking-server, old-server, new-client: clients and tracking servers of different versions.

- tracking-server: the *to* label's `mlflow server` (127.0.0.1, a free port, SQLite backend store and
  artifacts in the cell folder); the *from* label's `mlflow run` then logs to it over HTTP (from-train).
  The artifact root is a plain folder, not proxied `mlflow-artifacts:`, which clients before 1.24 cannot use.
- old-server:      the *from* label's `mlflow server`, for the reverse direction.
- new-client:      the *to* label's client writes runs to the old server; mlflow documents newer
  clients against older servers as unsupported, so a failure may be a written-down known break.
"""

from __future__ import annotations

import json

from rolloutcheck.cells.context import CellContext, StageFailed, StoreState
from rolloutcheck.cells.stages import serve
from rolloutcheck.core import net
from rolloutcheck.spec.results import StageResult
from rolloutcheck.stores import scripts as storeops

HEALTH = "/api/2.0/mlflow/experiments/get?experiment_id=0"  # REST, present in every version
NEW_CLIENT_SIZE = {"experiments": 1, "runs": 2, "steps": 5, "models": 1}


def server_command(ctx: CellContext, backend: str, artifacts: str):
    def command(port: int) -> list[str]:
        return [str(ctx.prefix / "bin" / "mlflow"), "server", "--backend-store-uri", backend,
                "--default-artifact-root", artifacts, "--host", net.HOST, "--port", str(port),
                "--workers", "1"]  # fmt: skip

    return command


def _start(ctx: CellContext, state: StoreState, name: str, backend: str, folder: str, environ: dict) -> str:
    root = ctx.cell_dir / folder
    (root / "artifacts").mkdir(parents=True, exist_ok=True)
    backend_uri = backend.format(root=root)
    command = server_command(ctx, backend_uri, str(root / "artifacts"))
    server = serve.start(command, ctx.launch(name, environ), ctx.timeouts.serve, health=HEALTH)
    state.servers[name] = server
    return f"{server.url} (backend {backend_uri})"


class NewServer:
    """The *to* label's tracking server on the store; the *from* label's client trains, checks and
    serves the use case through it."""

    NAME = "tracking-server"

    @staticmethod
    def describe(ctx: CellContext) -> str:
        return f"mlflow {ctx.label.name}'s tracking server"

    @staticmethod
    def run(ctx: CellContext, state: StoreState, record: StageResult) -> None:
        state.target.need("environ")
        record.reason = _start(ctx, state, "tracking-server", "sqlite:///{root}/mlflow.db", "server-new",
                               state.target.environ)  # fmt: skip
        url = state.servers["tracking-server"].url
        state.uri = url
        # the from client trains into it, the to client checks and serves from it
        state.source.environ["MLFLOW_TRACKING_URI"] = url
        state.target.environ["MLFLOW_TRACKING_URI"] = url


class OldServer:
    """The reverse direction: the *from* label's tracking server, written to by the *to* label's client."""

    NAME = "old-server"

    @staticmethod
    def describe(ctx: CellContext) -> str:
        return f"mlflow {ctx.label.name}'s tracking server (the reverse direction)"

    @staticmethod
    def run(ctx: CellContext, state: StoreState, record: StageResult) -> None:
        state.source.need("environ")
        record.reason = _start(ctx, state, "old-server", "{root}/mlruns", "server-old", state.source.environ)


class NewClient:
    """The *to* label's client writes to and reads from the old server."""

    NAME = "new-client"

    @staticmethod
    def describe(ctx: CellContext) -> str:
        return f"mlflow {ctx.label.name}'s client writes to the old server"

    @staticmethod
    def run(ctx: CellContext, state: StoreState, record: StageResult) -> None:
        state.target.need("environ")
        server = state.servers.get("old-server")
        if server is None:
            raise StageFailed("no old server to write to")
        out = ctx.cell_dir / "new-client.json"
        environ = {**state.target.environ, "MLFLOW_TRACKING_URI": server.url}
        launch = ctx.launch("new-client", environ)
        storeops.run_script(ctx.prefix, "populate.py", [server.url, json.dumps(NEW_CLIENT_SIZE), str(out)], launch,
                            ctx.timeouts.tracking)  # fmt: skip
        written = json.loads(out.read_text())["written"]
        record.details["written"] = written
        record.reason = f"{written['runs']} runs, {written['metric_points']} metric points, {written['models']} model"


def stop(state: StoreState) -> None:
    for server in state.servers.values():
        server.stop()
