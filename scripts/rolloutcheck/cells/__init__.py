"""One cell end to end: each kind's part (validate, upgrade, storecheck), the lifecycle they share,
the pipeline executor, the frozen context, the stage runner, the stages and repro.sh.

`run(request)` runs a cell of any kind; `CELL_KINDS` registers each kind's class by the kind's
name in spec/kinds.py.
"""

from __future__ import annotations

from collections.abc import Callable

from rolloutcheck.cells.lifecycle import CellRequest, KindCell, Started
from rolloutcheck.cells.lifecycle import run as _run
from rolloutcheck.cells.models import ModelCell
from rolloutcheck.cells.storecheck import StoreCell
from rolloutcheck.cells.upgrade import UpgradeCell
from rolloutcheck.cells.validate import ValidateCell
from rolloutcheck.spec.results import CellResult

CELL_KINDS: dict[str, Callable[[Started], KindCell]] = {
    "validate": ValidateCell,
    "upgrade": UpgradeCell,
    "store-upgrade": StoreCell,
    "models": ModelCell,
}


def run(request: CellRequest) -> CellResult:
    """One cell of the request's kind, end to end (cell.json and repro.sh written)."""
    return _run(request, CELL_KINDS[request.kind.name])
