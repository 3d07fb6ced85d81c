"""speed (upgrade and models cells): production's model served by production's label (the *from* server)
against what the *to* label will serve, side by side: the old model as it is (`as-is`, the local server)
and the model retrained on the *to* label (`retrained`, upgrade cells). Every server is up at once and
gets the same stored requests in alternating rounds, repeated (ROLLOUT_SPEED_REPEATS), so machine noise
hits all alike; a path is a regression only when every repeat says so (probes/loadtest.py `verdict`).

A slower path gets the remedy the *to* label offers: the same server with `--workers N`
(ROLLOUT_SPEED_WORKERS), measured again against production; proven when it is then within the rule.
The rows go into the cell's `upgrade["speed"]` (the decision's speed table and findings); the stage
fails only when it could measure nothing. The pinned path is measured by pin-remedy (pin.py).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

from rolloutcheck.cells.context import CellContext, StageFailed, UpgradeState
from rolloutcheck.cells.stages.probe import logged_example
from rolloutcheck.cells.stages.serve import start
from rolloutcheck.cells.stages.upgrade.replay import in_protocol_of, production_requests
from rolloutcheck.core import net, procs, quiet
from rolloutcheck.drivers import serving
from rolloutcheck.probes import curl, loadtest, localhttp
from rolloutcheck.spec.results import PASS, StageResult

NAME = "speed"
AS_IS, RETRAINED, PINNED = "as-is", "retrained", "pinned"  # the paths a team can take, as the decision names them
FROM = "from"
WARMUP = 50  # requests per server before the first repeat
SETTLE = 30.0  # seconds at most for an idle machine (servers' workers started) before the servers are timed


def describe(ctx: CellContext) -> str:
    limits = ctx.limits
    return (f"production's model and server against the {ctx.label.name} paths (as is, retrained), interleaved, "
            f"{limits.repeats} repeats, up to {limits.validate_seconds:g} s per server")  # fmt: skip


def rule(ctx: CellContext) -> loadtest.Rule:
    return loadtest.Rule(ctx.limits.p95_ratio, ctx.limits.p95_min_ms)


def budget(ctx: CellContext, requests: int) -> loadtest.Load:
    """The use case's load in every repeat (ROLLOUT_SPEED_REQUESTS instead, in all), its time
    (ROLLOUT_SPEED_SECONDS per server) shared by the requests measured; a longer warm-up than a
    validate cell's: a server's first hundred answers are slower and would make the first repeat disagree."""
    load = ctx.usecase.load
    count = ctx.limits.validate_requests or load.requests * ctx.limits.repeats
    seconds = min(load.seconds, ctx.limits.validate_seconds) / requests
    return dataclasses.replace(load, requests=count, seconds=seconds, warmup=max(load.warmup, WARMUP))


def refused(request: curl.Request) -> str | None:
    """Why the server does not answer `request` with 200 (None: it does): such a path is not timed with it."""
    try:
        status = localhttp.request(request.method, request.url, headers=request.headers,
                                   data=(request.body or "").encode(), timeout=30).status_code  # fmt: skip
    except Exception as error:  # noqa: BLE001 - a server that cannot answer the request is not measured with it
        return f"no answer ({type(error).__name__})"
    return None if status == 200 else f"HTTP {status}"


def not_answered(ctx: CellContext, path: str, name: str, why: str) -> dict:
    """A path that refused a production request: a row of its own (never left out of the table), not measured,
    so it is never recommended on part of production's requests."""
    return {"usecase": ctx.usecase.name, "request": name, "path": path, "verdict": loadtest.NOT_MEASURED,
            "text": f"not measured: the {path} model answered {why} to {name} on {ctx.label.name} (its migrated "
                    "request, as the team would send it)"}  # fmt: skip


def measure(ctx: CellContext, sides: Mapping[str, Mapping[str, curl.Request]]) -> list[dict]:
    """Per request: every side up for it, interleaved and repeated, with the machine to itself (no other
    cell's stage runs meanwhile: core/quiet.py) and idle first (every server's workers started, nothing else
    busy; bounded by ROLLOUT_SPEED_QUIET_WAIT too);
    one row per (request, path)."""
    rows = []
    load = budget(ctx, max(1, len(sides)))
    with quiet.alone(ctx.limits.quiet_wait) as machine:
        settled, idle = procs.settle(min(SETTLE, ctx.limits.quiet_wait))
        with procs.OthersCpu(ctx.marker) as others:
            for name, requests in sides.items():
                figures = loadtest.repeated(dict(requests), load, ctx.limits.repeats)
                for path in (p for p in requests if p != FROM):
                    row = loadtest.verdict(figures[FROM], figures[path], rule(ctx))
                    rows.append({"usecase": ctx.usecase.name, "request": name, "path": path} | row)
    for row in rows:
        held = {"settled_s": round(settled, 1), "idle": idle, "others_cores": round(others.cores, 2)}
        row["machine"] = machine.as_dict() | held | {"others": others.busiest}
        if not machine.alone and "text" in row:
            row["text"] += f" (measured while other stages ran: waited {machine.seconds:.0f} s for a quiet machine)"
        elif not idle and "text" in row:
            row["text"] += f" (measured on a machine still busy after {settled:.0f} s: not only this tool's work)"
    return rows


def path_verdict(rows: list[dict]) -> str:
    """A path's verdict over its requests: the worst one."""
    order = (loadtest.NOT_MEASURED, loadtest.REGRESSION, loadtest.INCONCLUSIVE, loadtest.NO_REGRESSION)
    return next((v for v in order if any(r["verdict"] == v for r in rows)), loadtest.NO_REGRESSION)


def shown_command(server: serving.Server, workers: int) -> str:
    """The serve command a team runs, without this machine's paths and port."""
    argv = serving.with_workers(server.command, workers)(0)
    kept, skip = ["mlflow"], False
    for arg in argv[1:]:
        if skip:
            skip = False
        elif arg in ("-h", "-p"):
            skip = True
        else:
            kept.append(arg)
    return " ".join(kept)


def try_workers(ctx: CellContext, state: UpgradeState, path: str, server, sides: dict) -> dict:
    """The remedy the *to* label offers for a slower server: the same one with more workers, measured again
    (in its side's environment: the retrained model lives in the retrained side's own store)."""
    environ = (state.retrained if path == RETRAINED and state.retrained else state.target).environ
    workers = ctx.limits.workers
    command = shown_command(server, workers)
    if workers <= 1:
        return {"outcome": "not tried", "reason": "ROLLOUT_SPEED_WORKERS=1", "command": command}
    launch = ctx.launch(f"speed-{path}-workers", environ)
    try:
        more = start(serving.with_workers(server.command, workers), launch, ctx.timeouts.serve, f"-w {workers}: ")
    except StageFailed as error:
        return {"outcome": "not started", "workers": workers, "reason": error.reason, "command": command,
                "log": str(launch.log)}  # fmt: skip
    try:
        again = {name: {FROM: reqs[FROM], path: reqs[path].for_server(net.HOST, more.port)}
                 for name, reqs in sides.items() if path in reqs}  # fmt: skip
        rows = measure(ctx, again)
    finally:
        more.stop()
    proven = path_verdict(rows) == loadtest.NO_REGRESSION
    return {"outcome": "proven" if proven else "still slower", "workers": workers, "command": command,
            "rows": rows, "reason": "; ".join(f"{r['request']}: {r['text']}" for r in rows)[:600]}  # fmt: skip


def not_served(ctx: CellContext, asked: set[str], answered: set[str], up: bool) -> list[dict]:
    """A row for each stored request the old model as it is did not answer: said in the table, never timed."""
    why = "its local-probe failed" if up else "its local server did not start"
    return [{"usecase": ctx.usecase.name, "request": name, "path": AS_IS, "verdict": loadtest.NOT_SERVED,
             "text": f"the old model as it is does not answer on {ctx.label.name} ({why}: see its finding)"}
            for name in sorted(asked - answered)]  # fmt: skip


def run(ctx: CellContext, state: UpgradeState, record: StageResult) -> None:
    state.source.need("server")
    from_version, to_version = state.source.result.mlflow_version, state.target.result.mlflow_version
    local = [p for p in state.result.probes if p.name.startswith("local:") and p.status == PASS]
    answered = {p.name.split(":", 1)[1] for p in local}
    servers = {AS_IS: state.local, RETRAINED: state.retrained.server if state.retrained else None}
    pairs = [(spec, in_protocol_of(spec, to_version)[0]) for spec in production_requests(ctx, from_version)]
    # the old model's logged example, in each side's own form (the retrained model logged its own)
    examples = list(zip(logged_example(state.source.report, from_version),
                        [s.request for s in logged_example(state.source.report, to_version)], strict=True))  # fmt: skip
    stored = {spec.name for spec, _ in pairs}
    asked = stored | {spec.name for spec, _ in examples}
    sides: dict[str, dict[str, curl.Request]] = {}
    refusals: list[dict] = []
    for spec, migrated in [*pairs, *examples]:
        found = {FROM: spec.request.for_server(net.HOST, state.source.server.port)}
        if servers[AS_IS] is not None and spec.name in answered:
            found[AS_IS] = migrated.for_server(net.HOST, servers[AS_IS].port)
        retrained = servers[RETRAINED]
        if retrained is not None and spec.name in stored:
            request = migrated.for_server(net.HOST, retrained.port)
            why = refused(request)
            if why is None:
                found[RETRAINED] = request
            else:
                refusals.append(not_answered(ctx, RETRAINED, spec.name, why))
        if len(found) > 1:
            sides[spec.name] = found
    if not sides:
        raise StageFailed(f"no production request answered on a {ctx.label.name} server: nothing to compare")
    rows = measure(ctx, sides) + not_served(ctx, asked, answered, servers[AS_IS] is not None) + refusals
    remedies = {}
    for path in dict.fromkeys(r["path"] for r in rows):
        if path_verdict([r for r in rows if r["path"] == path]) == loadtest.REGRESSION:
            remedies[path] = try_workers(ctx, state, path, servers[path], sides)
    for row in rows:
        if row["path"] in remedies:
            row["remedy"] = remedies[row["path"]]
        state.result.speed[f"{row['path']}:{row['request']}"] = {k: row[k] for k in (FROM, "to", "verdict", "text")
                                                                   if k in row}  # fmt: skip
    state.result.upgrade.setdefault("speed", []).extend(rows)
    record.reason = "; ".join(f"{r['path']} {r['request']}: {r['text']}" for r in rows)[:900]
    record.details = {"rows": rows}
