"""What a cell reports: one JSON per (label, use case), in a run folder that is never reused.

A run folder is results/runs/<UTC time>/ (or ROLLOUT_RUN_DIR, shared by the labels of one
`make matrix`); each cell writes <run>/<label>/<usecase>/cell.json and its logs beside it. A
cell folder that already exists is never overwritten: the new one gets a numeric suffix.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from . import paths

STAGES = ("lock", "env", "train", "tracking", "serve", "probe")
PASS, FAIL, SKIP = "pass", "fail", "skip"
XFAIL, XPASS = "xfail", "xpass"  # probes only: a known break seen / no longer seen


@dataclass
class StageResult:
    stage: str
    status: str
    reason: str = ""
    seconds: float = 0.0
    log: str | None = None
    details: dict = field(default_factory=dict)


@dataclass
class ProbeResult:
    name: str
    status: str
    reason: str = ""
    http_status: int | None = None
    seconds: float = 0.0
    request: str | None = None  # the stored curl file


@dataclass
class CellResult:
    label: str
    usecase: str
    cell_dir: str
    started: str = field(default_factory=lambda: time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
    mlflow_version: str | None = None
    env_backend: str | None = None
    python: str | None = None
    run_id: str | None = None
    flavor: str | None = None
    stages: list[StageResult] = field(default_factory=list)
    probes: list[ProbeResult] = field(default_factory=list)

    @property
    def status(self) -> str:
        if any(s.status == FAIL for s in self.stages) or any(p.status == FAIL for p in self.probes):
            return FAIL
        return PASS if self.stages else SKIP

    def failure(self) -> StageResult | None:
        return next((s for s in self.stages if s.status == FAIL), None)

    def to_json(self) -> str:
        return json.dumps({**asdict(self), "status": self.status}, indent=2)

    @classmethod
    def from_json(cls, text: str) -> CellResult:
        raw = json.loads(text)
        raw.pop("status", None)
        raw["stages"] = [StageResult(**s) for s in raw.get("stages", [])]
        raw["probes"] = [ProbeResult(**p) for p in raw.get("probes", [])]
        return cls(**raw)

    def write(self) -> Path:
        target = Path(self.cell_dir) / "cell.json"
        target.write_text(self.to_json())
        return target


def run_dir() -> Path:
    """This invocation's run folder; ROLLOUT_RUN_DIR lets several processes share one."""
    chosen = os.environ.get("ROLLOUT_RUN_DIR")
    if not chosen:
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        chosen = str(paths.RESULTS / "runs" / f"{stamp}-{os.getpid()}")
        os.environ["ROLLOUT_RUN_DIR"] = chosen  # children and later cells of this process share it
    folder = Path(chosen)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def new_cell_dir(run: Path, label: str, usecase: str) -> Path:
    """A fresh folder for one cell; an existing one is kept and the new one suffixed."""
    base = run / label / usecase
    candidate, n = base, 1
    while candidate.exists():
        n += 1
        candidate = base.with_name(f"{usecase}.{n}")
    candidate.mkdir(parents=True)
    return candidate


def load_cells(run: Path) -> list[CellResult]:
    return [CellResult.from_json(p.read_text()) for p in sorted(run.glob("*/*/cell.json"))]
