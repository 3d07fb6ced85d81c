"""probe: every stored request, replayed against the server under test and judged."""

from __future__ import annotations

from collections import Counter

from rolloutcheck.cells.context import CellContext, CellState, StageFailed
from rolloutcheck.core import net
from rolloutcheck.models.results import FAIL, ProbeResult, StageResult
from rolloutcheck.probes import expectations
from rolloutcheck.probes import judge as probing

NAME = "probe"


def describe(ctx: CellContext) -> str:
    return f"{len(ctx.config.probes)} stored requests"


def run(ctx: CellContext, state: CellState, record: StageResult) -> None:
    state.need("server", "report", "result")
    version = state.result.mlflow_version
    with ctx.log(NAME).open("a") as log:
        for spec in ctx.config.probes:
            source = str(spec.request_file)
            expectation = expectations.select(list(spec.expectations), version)
            if expectation is None:
                state.result.probes.append(
                    ProbeResult(
                        spec.name, FAIL, f"{spec.expect_file}: no entry matches mlflow {version}", request=source
                    )
                )
                continue
            oracle = state.report.oracle.get(spec.name)
            if oracle is None and spec.name in state.report.oracle_errors:
                log.write(f"oracle for {spec.name} failed: {state.report.oracle_errors[spec.name]}\n")
            request = spec.request.for_server(net.HOST, state.server.port)
            for note in request.notes:
                log.write(f"note for {spec.name}: {note}\n")
            outcome = probing.run_probe(_probe(spec), request, expectation, oracle, log)
            if request.notes:
                outcome.reason = f"{outcome.reason} ({'; '.join(request.notes)})"
            state.result.probes.append(outcome)
    if not state.result.probes:
        raise StageFailed("no probe ran")
    counts = Counter(p.status for p in state.result.probes)
    record.reason = ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
    failed = [p for p in state.result.probes if p.status == FAIL]
    if failed:
        raise StageFailed(f"{failed[0].name}: {failed[0].reason}")


def _probe(spec) -> probing.Probe:
    return probing.Probe(spec.name, spec.request_file, spec.expect_file)
