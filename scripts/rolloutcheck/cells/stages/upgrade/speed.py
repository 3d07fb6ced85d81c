"""speed (upgrade cells): the same model served by the *from* and the *to* version, loaded side by
side, interleaved in rounds so machine noise hits both; a regression fails with both figures."""

from __future__ import annotations

from rolloutcheck.cells.context import CellContext, StageFailed, UpgradeState
from rolloutcheck.cells.stages.probe import logged_example
from rolloutcheck.cells.stages.upgrade.replay import in_protocol_of, production_requests
from rolloutcheck.core import net
from rolloutcheck.models.results import StageResult
from rolloutcheck.probes import loadtest

NAME = "speed"


def describe(ctx: CellContext) -> str:
    load = ctx.usecase.load
    return f"{load.requests} requests per server and probe, {load.concurrency} at a time, from and to interleaved"


def run(ctx: CellContext, state: UpgradeState, record: StageResult) -> None:
    state.source.need("server")
    from_version, to_version = state.source.result.mlflow_version, state.target.result.mlflow_version
    answered = {
        p.name.split(":", 1)[1] for p in state.result.probes if p.name.startswith("local:") and p.status == "pass"
    }
    regressions = []
    pairs = [(spec, in_protocol_of(spec, to_version)[0]) for spec in production_requests(ctx, from_version)]
    # the model's logged example, in each side's own form
    pairs += list(zip(logged_example(state.source.report, from_version),
                      [s.request for s in logged_example(state.source.report, to_version)], strict=True))  # fmt: skip
    for spec, migrated in pairs:
        if spec.name not in answered:
            continue
        requests = {
            "from": spec.request.for_server(net.HOST, state.source.server.port),
            "to": migrated.for_server(net.HOST, state.local.port),
        }
        figures = {side: f.summary() for side, f in loadtest.interleaved(requests, ctx.usecase.load).items()}
        ok, text = loadtest.judge(figures["from"], figures["to"], ctx.limits.p95_ratio, ctx.limits.p95_min_ms)
        state.result.speed[spec.name] = {**figures, "verdict": text}
        if figures["from"]["errors"]:
            ok, text = False, f"{figures['from']['errors']} requests to the from server failed"
        if not ok:
            regressions.append(f"{spec.name}: {text}")
    if not state.result.speed:
        raise StageFailed("no production request answered on the local server: nothing to compare")
    if regressions:
        raise StageFailed("; ".join(regressions))
    record.reason = "; ".join(f"{n}: {f['verdict']}" for n, f in state.result.speed.items())
    record.details = dict(state.result.speed)
