"""speed: a bounded load on the server under test, for every probe that answered as users want.

The figures (p50, p95, p99, requests per second, errors) go into cell.json and the table; a
validate cell fails here only when requests of the load fail (upgrade cells compare two servers).
"""

from __future__ import annotations

from rolloutcheck.cells.context import CellContext, CellState, StageFailed
from rolloutcheck.core import net
from rolloutcheck.models.results import PASS, StageResult
from rolloutcheck.probes import loadtest

NAME = "speed"


def describe(ctx: CellContext) -> str:
    load = ctx.usecase.load
    return f"{load.requests} requests per probe, {load.concurrency} at a time, after {load.warmup} warm-up"


def run(ctx: CellContext, state: CellState, record: StageResult) -> None:
    state.need("server")
    answered = {p.name for p in state.result.probes if p.status == PASS and p.http_status == 200}
    requests = {
        spec.name: spec.request.for_server(net.HOST, state.server.port)
        for spec in ctx.config.probes
        if spec.name in answered
    }
    if not requests:
        record.reason = "no probe answered 200 as wanted: nothing to measure"
        return
    for name, request in requests.items():  # one server: probe by probe
        figures = loadtest.interleaved({name: request}, ctx.usecase.load)[name].summary()
        state.result.speed[name] = figures
    failed = {n: f for n, f in state.result.speed.items() if f["errors"]}
    if failed:
        name, figures = next(iter(failed.items()))
        raise StageFailed(f"{name}: {figures['errors']} of {figures['requests']} requests of the load failed")
    record.reason = "; ".join(f"{n}: p95 {f['p95_ms']:.1f} ms, {f['rps']} req/s" for n, f in state.result.speed.items())
    record.details = dict(state.result.speed)
