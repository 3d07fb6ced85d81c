"""speed: a bounded load on the server under test, for every probe that answered as users want.

The figures (p50, p95, p99, requests per second, errors) go into cell.json and the table; a
validate cell fails here only when requests of the load fail (upgrade cells compare two servers).
"""

from __future__ import annotations

import dataclasses

from rolloutcheck.cells.context import CellContext, CellState, StageFailed
from rolloutcheck.cells.stages.probe import logged_example
from rolloutcheck.core import net
from rolloutcheck.probes import loadtest
from rolloutcheck.spec.results import PASS, StageResult

NAME = "speed"


def bounded(ctx: CellContext) -> loadtest.Load:
    """The use case's load, stopped at the validate budget (ROLLOUT_SPEED_SECONDS): a slow server
    (h2o's 1.x answers 4 requests a second) is measured on what it answered by then. The request
    count is the use case's unless ROLLOUT_SPEED_REQUESTS asks for another (a stabler p99)."""
    load = ctx.usecase.load
    requests = ctx.limits.validate_requests or load.requests
    return dataclasses.replace(load, requests=requests, seconds=min(load.seconds, ctx.limits.validate_seconds))


def describe(ctx: CellContext) -> str:
    load = bounded(ctx)
    return (f"up to {load.requests} requests per probe in {load.seconds:g} s in all, {load.concurrency} at a time, "
            f"after {load.warmup} warm-up")  # fmt: skip


def run(ctx: CellContext, state: CellState, record: StageResult) -> None:
    state.need("server", "report")
    answered = {p.name for p in state.result.probes if p.status == PASS and p.http_status == 200}
    requests = {
        spec.name: spec.request.for_server(net.HOST, state.server.port)
        for spec in [*ctx.config.probes, *logged_example(state.report, state.result.mlflow_version)]
        if spec.name in answered
    }
    if not requests:
        record.reason = "no probe answered 200 as wanted: nothing to measure"
        return
    budget = bounded(ctx)  # the server's: each probe gets its share, so every probe is measured
    share = dataclasses.replace(budget, seconds=budget.seconds / len(requests))
    for name, request in requests.items():  # one server: probe by probe
        figures = loadtest.interleaved({name: request}, share)[name].summary()
        state.result.speed[name] = figures
    failed = {n: f for n, f in state.result.speed.items() if f["errors"]}
    if failed:
        name, figures = next(iter(failed.items()))
        raise StageFailed(f"{name}: {figures['errors']} of {figures['requests']} requests of the load failed")
    record.reason = "; ".join(f"{n}: p95 {f['p95_ms']:.1f} ms, {f['rps']} req/s ({f['requests']} requests)"
                              for n, f in state.result.speed.items())  # fmt: skip
    record.details = dict(state.result.speed)
