"""Leaving a store requirement out of a lock: the package, what only it pulled in, nothing else; and
the decision's reading of the outcome (needed with its failure, or not needed for the label)."""

from __future__ import annotations

from rolloutcheck.cells.stages.store import absence
from rolloutcheck.inputs.stores import StorePin
from rolloutcheck.reports import decision
from rolloutcheck.spec.kinds import STORE_UPGRADE
from rolloutcheck.spec.results import PASS, CellResult, StageResult

LOCK = """\
mlflow==3.17.2 \\
    --hash=sha256:aa
    # via -r requirements.in
psycopg==3.3.9 \\
    --hash=sha256:bb
    # via -r requirements.in
psycopg-binary==3.3.9 \\
    --hash=sha256:cc
    # via psycopg
psycopg2-binary==2.9.13 \\
    --hash=sha256:dd
    # via -r requirements.in
typing-extensions==4.15.0 \\
    --hash=sha256:ee
    # via
    #   mlflow
    #   psycopg
"""


def test_a_pin_is_left_out_with_what_only_it_needs(tmp_path):
    lock = tmp_path / "requirements.lock"
    lock.write_text(LOCK)
    assert absence.dropped(lock, "psycopg[binary]") == {"psycopg", "psycopg-binary"}  # typing-extensions stays
    assert absence.dropped(lock, "psycopg2-binary") == {"psycopg2-binary"}
    text = absence.lock_without(lock, {"psycopg", "psycopg-binary"})
    assert "psycopg==" not in text and "psycopg-binary" not in text and "sha256:bb" not in text
    assert "mlflow==3.17.2" in text and "typing-extensions==4.15.0" in text and "psycopg2-binary" in text


def test_only_packages_the_check_adds_are_left_out_for_the_stores_they_are_for():
    assert absence.checkable(StorePin("", "psycopg[binary]", "driver", ("postgresql",)), "postgresql")
    assert not absence.checkable(StorePin("", "psycopg[binary]", "driver", ("postgresql",)), "sqlite")
    assert not absence.checkable(StorePin(">=2,<3", "sqlalchemy<2.1", "constraint"), "sqlite")


def test_the_decision_drops_a_pin_not_needed_and_proves_one_needed():
    stages = [StageResult(s, PASS, "fine") for s in STORE_UPGRADE.stages("postgresql")]
    cell = CellResult("3.17.2", "postgresql", "/r/pg", kind="store-upgrade", from_label="1.2.SBD.0", stages=stages,
                      mlflow_version="3.17.2")  # fmt: skip
    cell.upgrade["absence"] = [
        {"pin": "psycopg2-binary", "store": "postgresql", "outcome": "not needed",
         "reason": "mlflow 3.17.2 db upgrade passed without it"},
        {"pin": "psycopg[binary]", "store": "postgresql", "outcome": "needed", "log": "/r/pg/logs/a.log",
         "reason": "mlflow 3.17.2 db upgrade failed without it (exit 1)",
         "without": "ModuleNotFoundError: No module named 'psycopg'"},
    ]  # fmt: skip
    pins = [StorePin("", "psycopg2-binary", "1.x driver", ("postgresql",)),
            StorePin("", "psycopg[binary]", "2.1 driver", ("postgresql",))]  # fmt: skip
    made = decision.decide([cell], store_pins=pins)
    (needed,) = made.findings
    assert "psycopg[binary]" in needed.remedy and "No module named 'psycopg'" in needed.proof
    assert any("`psycopg2-binary` is not needed for 3.17.2" in n for n in made.notes)
