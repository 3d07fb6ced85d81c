"""local-probe and model-env-probe: production's requests, in the *to* version's protocol, against a
server of the *to* version; the answers must equal the model's as-logged answers.

Production's requests are the probes that the *from* version answers as wanted (HTTP 200 with
predictions). A 1.x request is converted to the 2.x protocol when the *to* version needs it
(migrate.py); such a request is one production clients must change, and the new form is recorded
with its proof.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

from rolloutcheck.cells.context import CellContext, StageFailed, UpgradeState
from rolloutcheck.cells.stages.probe import logged_example
from rolloutcheck.core import net, versionmatch
from rolloutcheck.inputs.preflight import ProbeSpec
from rolloutcheck.probes import expectations, migrate
from rolloutcheck.probes import judge as probing
from rolloutcheck.spec.results import FAIL, PASS, ProbeResult, StageResult


def production_requests(ctx: CellContext, from_version: str) -> list[ProbeSpec]:
    chosen = []
    for spec in ctx.config.probes:
        wanted = expectations.select(list(spec.expectations), from_version)
        if wanted is not None and wanted.xfail is None and 200 in wanted.status:
            chosen.append(spec)
    return chosen


def in_protocol_of(spec: ProbeSpec, to_version: str):
    """(request for the *to* version, whether clients must change it)."""
    if versionmatch.matches(">=2", to_version):
        migrated = migrate.to_v2(spec.request, str(spec.request_file))
        if migrated is not None:
            return migrated, True
    return spec.request, False


@dataclass(frozen=True)
class Answer:
    """One production request sent to a server of the *to* label, judged against the as-logged answer."""

    spec: ProbeSpec
    request: object  # curl.Request, in the *to* version's protocol
    must_change: bool  # the clients must send this new form
    verdict: str
    reason: str
    status: int | None
    seconds: float


def exchange(name: str, sent, log) -> tuple[int | None, str]:
    """Send one request to a local server: (HTTP status or None, body or the transport error), both logged."""
    try:
        status, text = probing.send(sent)
    except Exception as error:  # noqa: BLE001 - any transport error is this request's failure
        status, text = None, f"{type(error).__name__}: {error}"
    log.write(f"--- {name}: {sent.method} {sent.url}\n{sent.headers}\n{sent.body}\n<-- {status}\n{text[:4000]}\n")
    return status, text


def answers(ctx: CellContext, state: UpgradeState, server, log_file: Path) -> list[Answer]:
    """Production's requests (in the *to* protocol) sent to `server`; each judged, written to `log_file`."""
    from_version, to_version = state.source.result.mlflow_version, state.target.result.mlflow_version
    state.source.need("report")
    example = logged_example(state.source.report, to_version)  # already in the *to* version's form
    chosen = production_requests(ctx, from_version) + example
    if not chosen:
        raise StageFailed(f"no probe is answered with 200 by mlflow {from_version}: nothing production sends")
    found = []
    with log_file.open("a") as log:
        for spec in chosen:
            request, must_change = (spec.request, False) if spec in example else in_protocol_of(spec, to_version)
            as_logged = state.source.report.oracle.get(spec.name)
            wanted = expectations.select(list(spec.expectations), from_version)
            started = time.monotonic()
            status, text = exchange(spec.name, request.for_server(net.HOST, server.port), log)
            verdict, reason = _judge(status, text, as_logged, wanted.tolerance)
            found.append(
                Answer(spec, request, must_change, verdict, reason, status, round(time.monotonic() - started, 3))
            )
    return found


def replay(ctx: CellContext, state: UpgradeState, record: StageResult, server, branch: str) -> None:
    from_version, to_version = state.source.result.mlflow_version, state.target.result.mlflow_version
    found = answers(ctx, state, server, ctx.log(record.stage))
    failures = []
    for answer in found:
        spec = answer.spec
        outcome = ProbeResult(f"{branch}:{spec.name}", answer.verdict, answer.reason, answer.status, answer.seconds,
                              str(spec.request_file))  # fmt: skip
        state.result.probes.append(outcome)
        if answer.verdict == FAIL:  # a written-down known break turns stage and probe into XFAIL (runner.py)
            failures.append(f"{spec.name}: {answer.reason}")
        elif answer.must_change and branch == "local" and answer.verdict == PASS:
            state.result.upgrade.setdefault("migrations", []).append({
                "probe": spec.name, "file": str(spec.request_file), "curl": migrate.as_curl(answer.request),
                "proof": f"HTTP 200 from mlflow {to_version}, predictions equal the as-logged answers",
            })  # fmt: skip
    if failures:
        raise StageFailed("; ".join(failures))
    record.reason = f"{len(found)} production request(s) answered as logged by mlflow {from_version}"


def error_line(text: str) -> str:
    """The one line that says why a scoring server refused: the exception of its stack trace, else
    its message, else the start of the body."""
    try:
        body = json.loads(text)
    except ValueError:
        body = None
    if isinstance(body, dict):
        trace = [line.strip() for line in str(body.get("stack_trace") or "").splitlines() if line.strip()]
        if trace:
            return trace[-1][:300]
        if body.get("message"):
            return str(body["message"])[:300]
    return " ".join(text.split())[:300]


def _judge(status: int | None, text: str, as_logged: list | None, tolerance: float) -> tuple[str, str]:
    if status != 200:
        return FAIL, f"HTTP {status}: {error_line(text)}"
    if as_logged is None:
        return FAIL, "no as-logged answer to compare with (see from-tracking)"
    try:
        served = probing.flatten(json.loads(text))
    except (ValueError, TypeError):
        return FAIL, "HTTP 200 but the body holds no predictions"
    if not probing.close(served, as_logged, tolerance):
        return FAIL, f"served {served} != as logged {as_logged}"
    return PASS, f"HTTP 200, predictions {served} equal the as-logged answers"


@dataclass(frozen=True)
class Replay:
    """A probe stage of one branch: production's requests against that branch's server."""

    NAME: str
    branch: str  # "local" or "model-env": the UpgradeState attribute with the server, and the probes' prefix
    what: str

    def describe(self, ctx: CellContext) -> str:
        return self.what

    def run(self, ctx: CellContext, state: UpgradeState, record: StageResult) -> None:
        replay(ctx, state, record, getattr(state, self.branch.replace("-", "_")), self.branch)


Local = Replay("local-probe", "local", "production's requests against the local server")
ModelEnv = Replay("model-env-probe", "model-env", "production's requests against the model's own environment")
