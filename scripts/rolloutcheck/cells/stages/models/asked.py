"""from-serve and from-probe of a models cell: production serves its model as it does today, and its
answers to what the model can be asked are the as-logged answers every later server must give.

What it is asked: the input example the model logged (in the production version's request form) and
every stored request of the use case it is linked to that production answers with 200. A request the
production server cannot answer fails from-probe: there is nothing to compare the new label with.
"""

from __future__ import annotations

import dataclasses
import json

from rolloutcheck.cells.context import CellContext, StageFailed, UpgradeState
from rolloutcheck.cells.stages import serve
from rolloutcheck.cells.stages.probe import logged_example
from rolloutcheck.cells.stages.upgrade.replay import error_line, exchange, production_requests
from rolloutcheck.core import net
from rolloutcheck.drivers import serving
from rolloutcheck.probes import judge as probing
from rolloutcheck.spec.results import PASS, ProbeResult, StageResult


class Serve:
    """Production's label serves the model in its logged environment."""

    NAME = "from-serve"

    @staticmethod
    def describe(ctx: CellContext) -> str:
        return f"mlflow {ctx.label.name} serves the model in its logged environment"

    @staticmethod
    def run(ctx: CellContext, state: UpgradeState, record: StageResult) -> None:
        source = state.source
        source.need("traits", "environ", "report")
        command = serving.serve_command(ctx.prefix, source.report.model_dir, source.traits.local_env_flags)
        source.server = serve.start(command, ctx.launch("serve", source.environ), ctx.timeouts.serve)
        record.reason = f"healthy on {source.server.url}"


def asked(ctx: CellContext, state: UpgradeState) -> list:
    """The production requests of the linked use case, then the logged example, in the *from* form."""
    version = state.source.result.mlflow_version
    return production_requests(ctx, version) + logged_example(state.source.report, version)


class AsLogged:
    """The model's input example and its use case's stored requests, answered by production: the as-logged answers."""

    NAME = "from-probe"

    @staticmethod
    def describe(ctx: CellContext) -> str:
        return "the model's input example and its use case's stored requests, answered by production"

    @staticmethod
    def run(ctx: CellContext, state: UpgradeState, record: StageResult) -> None:
        source = state.source
        source.need("server", "report")
        chosen = asked(ctx, state)
        if not chosen:
            raise StageFailed("nothing to ask: the model logged no input example the tool can send, and its use "
                              "case has no request production answers with 200")  # fmt: skip
        answers, failed = {}, []
        with ctx.log("probe").open("a") as log:
            for spec in chosen:
                status, text = exchange(spec.name, spec.request.for_server(net.HOST, source.server.port), log)
                try:
                    predictions = probing.flatten(json.loads(text)) if status == 200 else None
                except (ValueError, TypeError):
                    predictions = None
                if predictions is None:
                    failed.append(f"{spec.name}: HTTP {status}: {error_line(text)}")
                    continue
                answers[spec.name] = predictions
                state.result.probes.append(ProbeResult(f"from:{spec.name}", PASS, f"as logged: {predictions}"[:300],
                                                       status, request=str(spec.request_file)))  # fmt: skip
        source.report = dataclasses.replace(source.report, oracle=answers)
        if failed:
            raise StageFailed(
                f"production (mlflow {source.result.mlflow_version}) does not answer " + "; ".join(failed)
            )
        record.reason = (
            f"{len(answers)} request(s) answered by mlflow {source.result.mlflow_version}: the as-logged answers"
        )
