"""The pipelines declared once as data (spec/kinds.py): what everything else derives from."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from rolloutcheck import cells
from rolloutcheck.cells.pipelines import stage_of
from rolloutcheck.inputs import preflight
from rolloutcheck.inputs import stores as storeconfig
from rolloutcheck.spec.kinds import CONFIG, KINDS, STORE_KINDS, STORE_UPGRADE, UPGRADE, VALIDATE, Side

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("kind", list(KINDS.values()), ids=list(KINDS))
def test_every_declared_step_resolves_to_a_stage(kind):
    for variant, steps in kind.pipelines.items():
        names = [s.name for s in steps]
        assert len(names) == len(set(names)), f"{kind.name}/{variant}: a stage name twice"
        for step in steps:
            stage = stage_of(step)
            assert callable(stage.run) and callable(stage.describe) and isinstance(stage.NAME, str), step
            if step.finishes_after:
                assert callable(stage.start) and step.finishes_after in names[names.index(step.name) :], step
            assert step.name.endswith(stage.NAME) or step.side in (Side.TO_ALL, Side.FROM_ALL), step


def test_every_kind_has_a_cell_class_and_config_first():
    assert set(cells.CELL_KINDS) == set(KINDS)
    assert all(kind.stages(v)[0] == CONFIG for kind in KINDS.values() for v in kind.pipelines)


def test_stage_lists_are_what_the_reports_always_showed():
    assert VALIDATE.stages() == ("config", "lock", "env", "train", "tracking", "serve", "probe", "speed")
    assert UPGRADE.stages() == (
        "config", "from-lock", "from-env", "from-train", "from-tracking", "from-serve", "to-lock", "to-env",
        "local-serve", "local-probe", "to-train", "to-tracking", "to-serve", "speed",
        "model-env-serve", "model-env-probe", "pin-remedy",
    )  # fmt: skip
    assert STORE_KINDS == ("sqlite", "postgresql", "mysql", "filestore", "client")
    assert STORE_UPGRADE.stages("nosuch") == ("config",)  # an unknown store kind fails its config stage


def test_known_break_schemas_derive_from_the_declaration():
    # a slower path is a finding of the decision (speed rows), not a stage's break
    assert preflight.BREAKABLE == ("local-serve", "local-probe", "model-env-serve", "model-env-probe")
    assert set(storeconfig.BREAKABLE) == {
        "to-read", "migrate", "to-snapshot", "migrated-snapshot", "check-upgrade", "db-upgrade", "schema", "rollback",
        "from-train", "to-tracking", "to-serve", "to-probe", "new-client", "to-tracking-server", "old-clients",
        "to-serve-options",
    }  # fmt: skip
    trunk = {"config", "from-lock", "from-env", "to-lock", "to-env"}  # a broken env is never an expected break
    assert not trunk & set(storeconfig.BREAKABLE) and not trunk & set(preflight.BREAKABLE)


def test_imports_go_one_way():
    """The layers of .importlinter: a lower package never imports a higher one (also in `make lint`)."""
    lint = Path(sys.executable).with_name("lint-imports")
    done = subprocess.run([str(lint), ".importlinter"], cwd=ROOT, capture_output=True, text=True,
                          env={"PYTHONPATH": str(ROOT / "scripts"), "PATH": "/usr/bin:/bin"})  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "1 kept, 0 broken" in done.stdout
