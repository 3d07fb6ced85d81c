"""What a cell reports: one JSON per (label, use case) attempt, in a run folder.

A run folder is results/runs/<UTC time>-<pid>/ (or ROLLOUT_RUN_DIR, shared by the labels of one
`make matrix`); each cell writes <run>/<label>/<usecase>/cell.json and its logs beside it. A
cell folder that already exists is never overwritten: a re-run gets `<usecase>.2`, `.3`, ... and
the newest attempt is what the cell counts. Files are written atomically (temporary, then rename)
so a reader never sees half a file.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from pathlib import Path

from rolloutcheck.core import procs
from rolloutcheck.core.atomic import write_atomic

STAGES = ("config", "lock", "env", "train", "tracking", "serve", "probe", "speed")
# An upgrade cell (upgrade.py): the use case trained and logged by the *from* label, served by the *to* one.
UPGRADE_STAGES = (
    "config", "from-lock", "from-env", "from-train", "from-tracking", "from-serve", "to-lock", "to-env",
    "local-serve", "local-probe", "speed", "model-env-serve", "model-env-probe",
)  # fmt: skip
# A tracking-store check (storeupgrade.py): one cell per store kind, each with its own stages.
_STORE_TRUNK = ("config", "from-lock", "from-env", "to-lock", "to-env")
_WRITTEN = ("store", "populate", "from-train", "from-snapshot")
_SERVED = ("to-tracking", "to-serve", "to-probe")
_DATABASE = (*_STORE_TRUNK, *_WRITTEN, "backup", "check-upgrade", "db-upgrade", "to-snapshot", "rollback")
STORE_STAGES = {
    "sqlite": _DATABASE,
    "postgresql": _DATABASE,
    "filestore": (*_STORE_TRUNK, *_WRITTEN, "to-read", "migrate", "migrated-snapshot", *_SERVED),
    "client": (*_STORE_TRUNK, "tracking-server", "from-train", *_SERVED, "old-server", "new-client"),
}
STAGES_BY_KIND = {"validate": STAGES, "upgrade": UPGRADE_STAGES, "store-upgrade": ("config",)}
OWNER_FILE = "owner.json"  # who runs the cell, and the marker its processes carry (procs.py)


class Status(StrEnum):
    PASS = "pass"
    FAIL = "fail"
    SKIP = "skip"
    XFAIL = "xfail"  # probes only: a known break seen
    XPASS = "xpass"  # probes only: a known break no longer seen


PASS, FAIL, SKIP, XFAIL, XPASS = Status.PASS, Status.FAIL, Status.SKIP, Status.XFAIL, Status.XPASS


@dataclass
class StageResult:
    stage: str
    status: Status
    reason: str = ""
    seconds: float = 0.0
    log: str | None = None
    details: dict = field(default_factory=dict)


@dataclass
class ProbeResult:
    name: str
    status: Status
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
        if self.kind == "store-upgrade":  # the store kind is the cell's `usecase`; an unknown one has config only
            return STORE_STAGES.get(self.usecase, STAGES_BY_KIND[self.kind])
        return STAGES_BY_KIND[self.kind]

    @property
    def status(self) -> Status:
        """PASS only when every stage ran and passed (a stage's known break, XFAIL, counts as passed)
        and no probe failed; anything else is FAIL."""
        ran = {s.stage: s.status for s in self.stages}
        complete = all(ran.get(stage) in (PASS, XFAIL, XPASS) for stage in self.expected_stages)
        if self.problem or not complete or any(p.status == FAIL for p in self.probes):
            return FAIL
        return PASS

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
        return write_atomic(Path(self.cell_dir) / "cell.json", self.to_json())


def group_dir(kind: str, label: str) -> str:
    """The folder of a run that holds one label's cells of one kind: `<label>` or `upgrade-<label>`."""
    return label if kind == "validate" else f"{kind}-{label}"


def kind_and_label(group: str) -> tuple[str, str]:
    for kind in STAGES_BY_KIND:
        if kind != "validate" and group.startswith(f"{kind}-"):
            return kind, group[len(kind) + 1 :]
    return "validate", group


def new_cell_dir(run: Path, label: str, usecase: str, kind: str = "validate") -> Path:
    """A fresh folder for one attempt of a cell; an existing one is kept and the new one suffixed."""
    base = run / group_dir(kind, label) / usecase
    base.parent.mkdir(parents=True, exist_ok=True)
    for n in range(1, 10_000):
        candidate = base if n == 1 else base.with_name(f"{usecase}.{n}")
        try:
            candidate.mkdir()  # atomic: two processes never get the same folder
            return candidate
        except FileExistsError:
            continue
    raise RuntimeError(f"too many attempts of {label} x {usecase} in {run}")


_ATTEMPT = re.compile(r"^(?P<usecase>.+?)(?:\.(?P<n>\d+))?$")


def attempt_of(folder: Path) -> tuple[str, int]:
    """(use case, attempt number) of a cell folder: `uc` is 1, `uc.2` is 2, `uc.10` is 10."""
    found = _ATTEMPT.match(folder.name)
    return found["usecase"], int(found["n"] or 1)


def natural_key(text: str) -> list:
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", text)]


def owner_alive(cell_dir: Path) -> bool:
    """Whether the process that runs this cell is still running (its result may still come)."""
    try:
        owner = json.loads((cell_dir / OWNER_FILE).read_text())
        return procs.running(int(owner["pid"]), float(owner["create_time"]))
    except (OSError, ValueError, KeyError, TypeError):
        return False


def _load_attempt(folder: Path, group: str, usecase: str) -> CellResult | None:
    kind, label = kind_and_label(group)
    cell_json = folder / "cell.json"
    if not cell_json.exists():
        if owner_alive(folder):
            return None  # still running (another label's session under make -j2)
        problem = "no cell.json: the cell never finished (killed?)"
        return CellResult(label, usecase, str(folder), problem=problem, kind=kind)
    try:
        return CellResult.from_json(cell_json.read_text())
    except (OSError, ValueError, TypeError, KeyError) as error:
        problem = f"unreadable cell.json: {type(error).__name__}: {error}"
        return CellResult(label, usecase, str(folder), problem=problem, kind=kind)


def load_cells(run: Path) -> list[CellResult]:
    """The newest attempt of every cell in a run, in natural order; broken results are FAIL cells."""
    newest: dict[tuple[str, str], Path] = {}
    for folder in run.glob("*/*/"):
        if not folder.is_dir() or folder.parent.name.startswith("."):
            continue
        usecase, n = attempt_of(folder)
        key = (folder.parent.name, usecase)
        if key not in newest or n > attempt_of(newest[key])[1]:
            newest[key] = folder
    cells = []
    for (group, usecase), folder in sorted(newest.items(), key=lambda kv: (natural_key(kv[0][0]), kv[0][1])):
        loaded = _load_attempt(folder, group, usecase)
        if loaded is not None:
            cells.append(loaded)
    return cells


def missing_cells(run: Path, cells: list[CellResult], expected: list[tuple[str, str, str]]) -> list[CellResult]:
    """A FAIL cell for each (kind, label, use case) the selection asked for that reported nothing."""
    present = {(c.kind, c.label, c.usecase) for c in cells}
    problem = "missing: the selection asked for it, no result"
    return [
        CellResult(label, usecase, str(run / group_dir(kind, label) / usecase), problem=problem, kind=kind)
        for kind, label, usecase in expected
        if (kind, label, usecase) not in present
    ]
