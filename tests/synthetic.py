"""Run folders written with the real results API, for tests of what reads them (merge, HTML)."""

from __future__ import annotations

import json
from pathlib import Path

from rolloutcheck.spec import layout
from rolloutcheck.spec.kinds import VALIDATE
from rolloutcheck.spec.results import FAIL, PASS, SKIP, CellResult, ProbeResult, StageResult

VALIDATE_STAGES = VALIDATE.stages()
ROOT = Path(__file__).resolve().parents[1]
SEED = ROOT / "probes" / "sklearn_elasticnet_wine" / "seed_pandas_split.curl"


def write_cell(run: Path, label: str, usecase: str, failing: str | None = None, reason: str = "boom",
               probes: tuple[ProbeResult, ...] = (), started: str = "2026-01-01T00:00:00Z",
               seconds: float = 2.0) -> CellResult:  # fmt: skip
    """A finished validate cell: every stage PASS, or FAIL at `failing` (its log written) and the rest skipped."""
    folder = layout.new_cell_dir(run, label, usecase)
    (folder / "logs").mkdir()
    stages = []
    for stage in VALIDATE_STAGES:
        log = folder / "logs" / f"{stage}.log"
        if failing and VALIDATE_STAGES.index(stage) > VALIDATE_STAGES.index(failing):
            stages.append(StageResult(stage, SKIP, f"skipped: stage {failing} failed"))
            continue
        log.write_text(f"$ something for {stage}\n" + (f"Error: {reason}\n" if stage == failing else "ok\n"))
        status = FAIL if stage == failing else PASS
        stages.append(StageResult(stage, status, reason if status == FAIL else f"{stage} fine", seconds, str(log)))
    result = CellResult(label, usecase, str(folder), started=started, mlflow_version=label, stages=stages,
                        probes=list(probes), flavor=None if failing else "sklearn")  # fmt: skip
    if probes:
        (folder / "logs" / "probe.log").write_text("".join(
            f"--- {p.name}: POST http://127.0.0.1:5000/invocations\n{{}}\n{{\"columns\": []}}\n"
            f"<-- HTTP {p.http_status}\n{{\"predictions\": [5.98]}}\n" for p in probes))  # fmt: skip
        (folder / "check").mkdir()
        (folder / "check" / "out.json").write_text(json.dumps({"oracle": {p.name: [5.98] for p in probes}}))
    result.write()
    return result


def probe(name: str = "seed_pandas_split", status=PASS, reason: str = "HTTP 200, predictions match") -> ProbeResult:
    return ProbeResult(name, status, reason, 200, 0.1, str(SEED))
