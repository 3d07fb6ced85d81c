"""from-tracking-server, to-tracking-server, old-clients: production's tracking server as production runs it.

Production declares its server in envs/production.yaml (`tracking.server`: the name its clients use, its own
options and environment). Each label's `mlflow server` is started with exactly that command line on the
check's store, and reached through a local ingress that sends production's name as the Host header
(core/ingress.py); a client of the label then reads, writes a run, and uploads and downloads an artifact
(inenv/serverclient.py).
- from-tracking-server: production's label, before the move: what production does today (its baseline).
- to-tracking-server:   the new label on the moved store, with its own client. A server that refuses
  production's name ("Invalid Host header", 3.5+) is a break met here: it is started again with
  `--allowed-hosts <name>`, and that run is the proof of the option (`details["met"]`: each break met, its proof).
- old-clients:          production's clients (its label) against that new server.
A production without a declared server has nothing to check here: the stages say so ("not applicable").
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from rolloutcheck.cells.context import CellContext, CellState, StageFailed, StoreState
from rolloutcheck.cells.stages import serve
from rolloutcheck.cells.stages.store import serverauth
from rolloutcheck.cells.stages.store.trackserver import HEALTH
from rolloutcheck.core import net
from rolloutcheck.core.errors import Failure
from rolloutcheck.core.ingress import Ingress
from rolloutcheck.inputs import production
from rolloutcheck.spec.results import StageResult
from rolloutcheck.stores import scripts as storeops

REFUSED_NAME = "Invalid Host header"  # 3.5+'s security middleware refusing a Host it was not given
ALLOWED_HOSTS = "--allowed-hosts"
# clients before 1.24 know no `mlflow-artifacts:` scheme: the experiments a proxying server makes are closed to them
PROXIED = "registered artifact repository for: mlflow-artifacts"
ARTIFACT_ROOT = "--default-artifact-root"
PROXY_DESTINATION = "ROLLOUTCHECK_ARTIFACTS_DESTINATION"  # read by inenv/snapshot.py
NEW = "to-tracking-server"  # the new label's server, kept for old-clients


def declared(state: StoreState) -> production.TrackingServer:
    """Production's server, once not_applicable() has said there is one."""
    server = state.tracking_server
    assert isinstance(server, production.TrackingServer)
    return server


def not_applicable(state: StoreState, record: StageResult) -> bool:
    if state.tracking_server is not None:
        return False
    record.reason = ("not applicable: production declares no tracking server over a store of this kind "
                     "(envs/production.yaml tracking.server)")  # fmt: skip
    record.details["applicable"] = record.details["exercised"] = False
    return True


def _start(
    ctx: CellContext, state: StoreState, side: CellState, name: str, extra: tuple[str, ...] = (),
    prefix: Path | None = None,
) -> str:  # fmt: skip
    """The label's `mlflow server` (of `prefix`, default the stage's environment) with production's options and
    `extra` on the store, behind an ingress that sends production's name; the ingress URL."""
    server = declared(state)
    assert state.uri is not None
    options = (*server.options, *extra)
    mlflow = (prefix or ctx.prefix) / "bin" / "mlflow"

    def command(port: int) -> list[str]:
        return [str(mlflow), "server", "--backend-store-uri", state.uri, "--host", net.HOST,
                "--port", str(port), *options]  # fmt: skip

    # a server that proxies artifacts keeps them in its --artifacts-destination (default ./mlartifacts, its folder
    # being the cell's): every later read of the store lists them there (inenv/snapshot.py)
    destination = dict(zip(options, options[1:], strict=False)).get("--artifacts-destination", "mlartifacts")
    for each in (state.source, state.target):
        if each.environ is not None:
            each.environ[PROXY_DESTINATION] = str(ctx.cell_dir / destination)
    environ = {**(side.environ or {}), **dict(server.env)}
    if serverauth.is_on(options):  # the check's own auth database, never production's
        fresh = state.auth is None
        state.auth = state.auth or serverauth.Auth(ctx.cell_dir / "store" / "auth")
        environ.update(state.auth.server_environ())
        env = mlflow.parent.parent
        try:
            added = serverauth.server_packages(env, state.auth.folder / f"packages-{env.name}", ctx.log(name))
            if added is not None:  # as production's server has them (mlflow[auth]); the environment stays as locked
                environ["PYTHONPATH"] = ":".join(p for p in (str(added), environ.get("PYTHONPATH", "")) if p)
            if fresh:  # production's label: the database as production has it, tables and admin
                serverauth.prepared(env, environ, ctx.log(name))
            elif env not in (state.auth.made_by, state.auth.migrated_by):  # the new label moves it, once, first
                before = serverauth.revisions(state.auth)
                serverauth.migrated(env, state.auth.url, environ, ctx.log(name))
                state.auth.migrated_by = env
                state.result.upgrade["auth_migration"] = {"before": before, "after": serverauth.revisions(state.auth)}
        except RuntimeError as error:
            raise StageFailed(f"{name}: {error}") from None
        if fresh:
            state.auth.made_by = env
    # a server told its allowed names refuses 127.0.0.1 itself, one with auth refuses anyone without credentials;
    # /health answers both (every label that has either has it)
    health = "/health" if ALLOWED_HOSTS in options or state.auth else HEALTH
    running = serve.start(command, ctx.launch(name, environ), ctx.timeouts.serve, f"{name}: ", health=health)
    state.servers[name] = running
    ingress = Ingress(server.host, running.port)
    state.servers[f"{name}-ingress"] = ingress
    return ingress.url


def _stop(state: StoreState, name: str) -> None:
    for key in (f"{name}-ingress", name):
        if key in state.servers:
            state.servers.pop(key).stop()


def _client(ctx: CellContext, state: StoreState, side: CellState, url: str, who: str, log_as: str) -> dict:
    """The label's client through the ingress; StoreScriptError with the server's answer on a refusal. With
    basic auth, as the admin: production's label writes a user (`write`), the others read it back."""
    out = ctx.cell_dir / f"{log_as}.json"
    environ = {**(side.environ or {}), "MLFLOW_TRACKING_URI": url}  # mlflow-artifacts: URIs resolve against it
    if isinstance(state.auth, serverauth.Auth):
        environ.update(state.auth.client_environ("read" if state.auth.written else "write"))
    storeops.run_script(ctx.prefix, "serverclient.py", [url, who, str(out)], ctx.launch(log_as, environ),
                        ctx.timeouts.tracking)  # fmt: skip
    return json.loads(out.read_text())


def _remedy(attempt: Callable[[], dict], options: tuple[str, ...], log: Path) -> dict:
    """The run with the option that should fix a break met: its failure is judged on its own output (`log`),
    never on the first attempt's refusal still in the stage's log."""
    try:
        return attempt()
    except Failure as failure:
        raise StageFailed(f"also with `{' '.join(options)}`: {failure.reason}", failure.log or log) from None


def met(record: StageResult, line: str, proof: str, command: str | None = None, what: str = "tracking server") -> None:
    """A break met and worked around here: the runner matches `line` against the written-down breaks, and the
    decision's configuration prover takes this run (`proof`, with production's `what` started as `command`) as
    its proof."""
    record.details.setdefault("observed", []).append(line)
    record.details.setdefault("met", []).append({"seen": line, "proof": proof, "command": command, "what": what})


def _by_name(done: dict, record: StageResult, label: str) -> None:
    """A lookup by name the server refused: a break met here, the same client's work by id its proof."""
    if done.get("by_name_refused"):
        met(record, done["by_name_refused"], f"{label}'s client by experiment id through the same server: read, "
             f"wrote run {done['run_id'][:8]}, artifact up and down ({record.stage})")  # fmt: skip


def _judge_auth(state: StoreState, done: dict, record: StageResult) -> str:
    """With basic auth: a request without credentials refused; the user production's label wrote read back equal
    (what it wrote is kept for the later stages). The reason's tail, or StageFailed."""
    if not isinstance(state.auth, serverauth.Auth):
        return ""
    wrong = serverauth.refused_without_credentials(done)
    if wrong:
        raise StageFailed(f"basic auth: {wrong}")
    found = done["auth"]
    if state.auth.written is None:  # production's label: what it wrote is what every later server must say
        state.auth.written, state.auth.experiment_id = found["read"], found["experiment_id"]
    if found.get("permission_api_refused"):  # the admin API production's tooling calls is gone: the new one proves it
        met(
            record,
            found["permission_api_refused"],
            f"the permission read back through {found['permission_api']}: "
            f"{found['read']['permission']} for {serverauth.USER}, as production's label wrote it ({record.stage})",
        )
    changed = serverauth.differences(state.auth.written, found["read"])
    record.details["auth"] = {"read": found["read"], "changed": changed}
    if changed:
        raise StageFailed("basic auth: the user production's label wrote reads back otherwise: " + "; ".join(changed))
    moved = state.result.upgrade.get("auth_migration")
    migration = f", auth database {moved['before']} -> {moved['after']}" if moved and record.stage == NEW else ""
    return (
        f"; basic auth{migration}: 401 without credentials, user {serverauth.USER} and its "
        f"{found['read']['permission']} permission read back, the user let in"
    )


def _said(state: StoreState, label: str, done: dict, extra: tuple[str, ...] = ()) -> str:
    server = declared(state)
    return (f"{label}'s `{server.shown(*extra)}` as {server.host}: its own client read, wrote run "
            f"{done['run_id'][:8]}, artifact up and down")  # fmt: skip


class FromServer:
    """Production's label serves the store with production's command line, reached by production's name."""

    NAME = "from-tracking-server"

    @staticmethod
    def describe(ctx: CellContext) -> str:
        return f"mlflow {ctx.label.name}'s tracking server as production runs it"

    @staticmethod
    def run(ctx: CellContext, state: StoreState, record: StageResult) -> None:
        if not_applicable(state, record):
            return
        state.source.need("environ")
        try:
            url = _start(ctx, state, state.source, FromServer.NAME)
            done = _client(ctx, state, state.source, url, ctx.label.name, FromServer.NAME + "-client")
        finally:
            _stop(state, FromServer.NAME)
        _by_name(done, record, ctx.label.name)
        record.reason = _said(state, ctx.label.name, done) + _judge_auth(state, done, record)


class ToServer(FromServer):
    """The new label serves the moved store with production's command line, reached by production's name."""

    NAME = NEW

    @staticmethod
    def run(ctx: CellContext, state: StoreState, record: StageResult) -> None:
        if not_applicable(state, record):
            return
        state.target.need("environ")
        server = declared(state)
        label = ctx.label.name
        state.to_prefix = ctx.prefix
        url = _start(ctx, state, state.target, NEW)
        try:
            done = _client(ctx, state, state.target, url, label, NEW + "-client")
            extra: tuple[str, ...] = ()
        except storeops.StoreScriptError as refused:
            if REFUSED_NAME not in refused.reason:
                raise
            # the name production's clients use is refused: a break of its own (the runner matches it against
            # the written-down ones); the same server started again told that name proves the option
            _stop(state, NEW)
            extra = (ALLOWED_HOSTS, server.host)
            done = _remedy(
                lambda: _client(ctx, state, state.target, _start(ctx, state, state.target, NEW, extra), label,
                                NEW + "-allowed"),
                extra, ctx.log(NEW + "-allowed"),
            )  # fmt: skip
            met(record, refused.reason, f"with `{ALLOWED_HOSTS} {server.host}` the {label} server answered "
                 f"{label}'s client by that name: read, wrote run {done['run_id'][:8]}, artifact up and down ({NEW})",
                 server.shown(*extra))  # fmt: skip
        _by_name(done, record, label)
        state.result.upgrade["tracking_server"] = {"command": server.shown(*extra), "host": server.host,
                                                   "extra": list(extra)}  # fmt: skip
        only = f" (only with {' '.join(extra)}: refused without it)" if extra else ""
        record.reason = _said(state, label, done, extra) + _judge_auth(state, done, record) + only


class OldClients:
    """Production's clients (its label's mlflow) against the new label's server, by production's name."""

    NAME = "old-clients"

    @staticmethod
    def describe(ctx: CellContext) -> str:
        return f"mlflow {ctx.label.name}'s clients against the new tracking server"

    @staticmethod
    def run(ctx: CellContext, state: StoreState, record: StageResult) -> None:
        if not_applicable(state, record):
            return
        state.source.need("environ")
        ingress = state.servers.get(f"{NEW}-ingress")
        if ingress is None:
            raise StageFailed(f"no {NEW} to reach")
        extra = tuple((state.result.upgrade.get("tracking_server") or {}).get("extra", ()))
        label = ctx.label.name
        try:
            try:
                done = _client(ctx, state, state.source, ingress.url, label, OldClients.NAME)
            except storeops.StoreScriptError as refused:
                if PROXIED not in refused.reason:
                    raise
                # new experiments get proxied artifact locations these clients cannot write to: a break met here;
                # the server started again with a plain artifact root the clients share proves the option
                _stop(state, NEW)
                root = ctx.cell_dir / "store" / "shared-artifacts"
                root.mkdir(parents=True, exist_ok=True)
                extra = (*extra, ARTIFACT_ROOT, str(root))
                done = _remedy(
                    lambda: _client(ctx, state, state.source,
                                    _start(ctx, state, state.target, NEW, extra, state.to_prefix),
                                    label, OldClients.NAME + "-artifact-root"),
                    extra, ctx.log(OldClients.NAME + "-artifact-root"),
                )  # fmt: skip
                met(record, refused.reason, f"with `{ARTIFACT_ROOT} {root}` (a folder the clients share) the "
                     f"{state.result.label} server took {label}'s client: read, wrote run {done['run_id'][:8]}, "
                     f"artifact up and down ({OldClients.NAME})", declared(state).shown(*_shown(extra)))  # fmt: skip
        finally:
            _stop(state, NEW)
        _by_name(done, record, label)
        server = declared(state)
        record.reason = (f"{label}'s client as {server.host} to `{server.shown(*_shown(extra))}`: read, wrote run "
                         f"{done['run_id'][:8]}, artifact up and down" + _judge_auth(state, done, record))  # fmt: skip


def _shown(extra: tuple[str, ...]) -> tuple[str, ...]:
    """Options as an action says them: the check's own folder replaced by what production puts there."""
    return tuple("<the folder or bucket the clients write artifacts to>" if i and extra[i - 1] == ARTIFACT_ROOT
                 else option for i, option in enumerate(extra))  # fmt: skip
