"""What a cell reports: one JSON per (label, use case) attempt, in a run folder.

A run folder is results/runs/<UTC time>-<pid>/ (or ROLLOUT_RUN_DIR, shared by the labels of one
`make matrix`); each cell writes <run>/<label>/<usecase>/cell.json and its logs beside it. A
cell folder that already exists is never overwritten: a re-run gets `<usecase>.2`, `.3`, ... and
the newest attempt is what the cell counts. Files are written atomically (temporary, then rename)
so a reader never sees half a file.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from pathlib import Path

from rolloutcheck.core.atomic import write_atomic
from rolloutcheck.spec import kinds

CELL_FILE = "cell.json"  # what a cell reports, in its folder (spec/layout.py names the rest)


class Status(StrEnum):
    PASS = "pass"
    FAIL = "fail"
    SKIP = "skip"
    XFAIL = "xfail"  # probes only: a known break seen
    XPASS = "xpass"  # probes only: a known break no longer seen


PASS, FAIL, SKIP, XFAIL, XPASS = Status.PASS, Status.FAIL, Status.SKIP, Status.XFAIL, Status.XPASS
KNOWN_BREAK = "known break"  # an XFAIL's reason starts so: a written-down break was seen (spec/breaks.py)
FINDING = "breaks production's model"  # an XFAIL's reason starts so: a break of a models cell (kinds.py), a finding
# A failed stage's typed cause, in its details (the runner sets them from the Failure raised):
BAD_INPUT = "bad_input"  # the repository file that is unreadable or incomplete (a ConfigError): the input's fault
NOT_CHECKED = "not_checked"  # why the check could not run (a NotChecked): neither a pass nor the rollout's break


@dataclass
class StageResult:
    stage: str
    status: Status
    reason: str = ""
    seconds: float = 0.0
    log: str | None = None
    details: dict = field(default_factory=dict)  # "breaks": what its XFAIL is (spec/breaks.py Match.as_dict)

    @property
    def bad_input(self) -> str | None:
        """The repository file a FAIL blames (a ConfigError), else None."""
        return self.details.get(BAD_INPUT) if self.status == FAIL else None

    @property
    def not_checked(self) -> str | None:
        """Why a FAIL is a check that could not run (a NotChecked), else None."""
        return self.details.get(NOT_CHECKED) if self.status == FAIL else None


@dataclass
class ProbeResult:
    name: str
    status: Status
    reason: str = ""
    http_status: int | None = None
    seconds: float = 0.0
    request: str | None = None  # the stored curl file
    known: dict | None = None  # the written-down break (spec/breaks.py Described.as_dict) an XFAIL is


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
    problem: str | None = None  # the cell as a whole did not report (missing, unreadable, unfinished)
    kind: str = "validate"  # or "upgrade": from `from_label` to `label`
    from_label: str | None = None
    speed: dict = field(default_factory=dict)  # probe -> load figures (and, for upgrades, from/to)
    upgrade: dict = field(default_factory=dict)  # what an upgrade cell found: versions, migrations, model env

    @property
    def title(self) -> str:
        """How reports name the cell: `label x usecase`, or `upgrade from -> to x usecase`."""
        if self.kind == "validate":
            return f"{self.label} x {self.usecase}"
        return f"{self.kind} {self.from_label} -> {self.label} x {self.usecase}"

    @property
    def expected_stages(self) -> tuple[str, ...]:
        """The stages its kind declares (spec/kinds.py); a store check's variant is its store kind."""
        return kinds.stages_of(self.kind, self.usecase)

    @property
    def status(self) -> Status:
        """PASS only when every stage ran and passed (a stage's known break, XFAIL, counts as passed)
        and no probe failed; anything else is FAIL."""
        ran = {s.stage: s.status for s in self.stages}
        complete = all(ran.get(stage) in (PASS, XFAIL, XPASS) for stage in self.expected_stages)
        if self.problem or not complete or any(p.status == FAIL for p in self.probes):
            return FAIL
        return PASS

    def proven_remedy(self) -> dict | None:
        """The library-pin remedy shown to work here (pin-remedy stops at the first; of older runs' several,
        the one that changes fewest pins), or None."""
        proven = [r for r in self.upgrade.get("pin_remedies", []) if r.get("outcome") == "proven"]
        return min(proven, key=lambda r: len(r.get("pins", []))) if proven else None

    def failure(self) -> StageResult | None:
        """The stage to blame: the first that failed, else the first that did not pass."""
        if self.problem:
            return StageResult("cell", FAIL, self.problem)
        ran = {s.stage: s for s in self.stages}
        failed = next((s for s in self.stages if s.status == FAIL), None)
        if failed is not None:
            return failed
        for stage in self.expected_stages:
            if stage not in ran:
                return StageResult(stage, FAIL, "did not run and did not report why")
            if ran[stage].status not in (PASS, XFAIL, XPASS):
                return StageResult(stage, FAIL, ran[stage].reason or f"stage {stage} was {ran[stage].status}")
        return None

    def to_json(self) -> str:
        return json.dumps({**asdict(self), "status": self.status}, indent=2)

    @classmethod
    def from_json(cls, text: str) -> CellResult:
        raw = json.loads(text)
        raw.pop("status", None)
        raw["stages"] = [StageResult(**{**s, "status": Status(s["status"])}) for s in raw.get("stages", [])]
        raw["probes"] = [ProbeResult(**{**p, "status": Status(p["status"])}) for p in raw.get("probes", [])]
        return cls(**raw)

    def write(self) -> Path:
        return write_atomic(Path(self.cell_dir) / CELL_FILE, self.to_json())
