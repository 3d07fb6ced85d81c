"""probe: every stored request, and the input example the model logged, replayed against the server
under test and judged."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from packaging.specifiers import SpecifierSet

from rolloutcheck.cells.context import CellContext, CellState, StageFailed
from rolloutcheck.cells.stages.tracking import EXAMPLE_PROBE, CheckReport
from rolloutcheck.core import net, versionmatch
from rolloutcheck.inputs.preflight import ProbeSpec
from rolloutcheck.probes import curl, expectations, forms
from rolloutcheck.probes import judge as probing
from rolloutcheck.spec.results import FAIL, ProbeResult, StageResult

NAME = "probe"


def describe(ctx: CellContext) -> str:
    return f"{len(ctx.config.probes)} stored requests and the model's logged input example, if any"


def logged_example(report: CheckReport, version: str) -> list[ProbeSpec]:
    """The model's logged input example as a probe in the request form of mlflow `version` (its ready
    serving body on 2.x+ when one was logged), judged by the oracle; [] when the model logged none."""
    example = report.input_example
    if not example or "kind" not in example:
        return []
    content_type, body = forms.body_for(example, version)
    name = example.get("file", "input_example.json")
    if example.get("serving_body") and versionmatch.matches(">=2", version):
        content_type, body, name = "application/json", example["serving_body"], example["serving_file"]
    source = Path(report.model_dir or ".") / name
    request = curl.Request("POST", f"http://{net.HOST}/invocations", {"Content-Type": content_type}, body)
    wanted = expectations.Expectation(SpecifierSet(), (200,), oracle=True, source=str(source))
    return [ProbeSpec(EXAMPLE_PROBE, source, source, request, (wanted,))]


def run(ctx: CellContext, state: CellState, record: StageResult) -> None:
    state.need("server", "report", "result")
    version = state.result.mlflow_version
    unreadable = (state.report.input_example or {}).get("unreadable")
    with ctx.log(NAME).open("a") as log:
        if unreadable:
            log.write(f"the model's {unreadable} is not a form the tool can send: not replayed\n")
        for spec in [*ctx.config.probes, *logged_example(state.report, version)]:
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
        raise StageFailed("no probe ran: no stored request (probes/<usecase>/*.curl) and the model logged no input "
                          "example" + (f" the tool can send ({unreadable})" if unreadable else ""))  # fmt: skip
    counts = Counter(p.status for p in state.result.probes)
    record.reason = ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
    failed = [p for p in state.result.probes if p.status == FAIL]
    if failed:
        raise StageFailed(f"{failed[0].name}: {failed[0].reason}")


def _probe(spec) -> probing.Probe:
    return probing.Probe(spec.name, spec.request_file, spec.expect_file)
