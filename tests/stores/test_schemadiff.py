"""The schema comparison: a migrated store against a fresh one, every kind of difference named."""

import copy

from rolloutcheck.stores import schemadiff

FRESH = {
    "dialect": "sqlite", "revision": "abc123",
    "tables": {
        "metrics": {"columns": {"key": {"type": "varchar(250)", "nullable": False},
                                "value": {"type": "float", "nullable": False},
                                "run_uuid": {"type": "varchar(32)", "nullable": False}},
                    "primary_key": ["key", "run_uuid"], "foreign_keys": ["run_uuid -> runs(run_uuid)"],
                    "unique": [], "indexes": ["run_uuid"]},
        "runs": {"columns": {"run_uuid": {"type": "varchar(32)", "nullable": False}},
                 "primary_key": ["run_uuid"], "foreign_keys": [], "unique": ["run_uuid"], "indexes": []},
    },
}  # fmt: skip


def test_an_equal_schema_has_no_difference():
    assert schemadiff.differences(copy.deepcopy(FRESH), FRESH) == []
    assert schemadiff.summary([]).startswith("the same as a fresh store's")


def test_every_kind_of_difference_is_named():
    migrated = copy.deepcopy(FRESH)
    migrated["revision"] = "old999"
    migrated["tables"]["metrics"]["indexes"] = []  # mlflow #14465: an index never migrated
    migrated["tables"]["metrics"]["columns"]["value"] = {"type": "double", "nullable": True}
    migrated["tables"]["metrics"]["primary_key"] = ["key"]
    migrated["tables"]["runs"]["unique"] = []
    migrated["tables"]["runs"]["foreign_keys"] = ["x -> y(z)"]
    del migrated["tables"]["metrics"]["columns"]["run_uuid"]
    migrated["tables"]["leftover"] = {"columns": {}, "primary_key": [], "foreign_keys": [], "unique": [], "indexes": []}
    found = schemadiff.differences(migrated, FRESH)
    assert found == [
        "alembic revision old999 (a fresh store: abc123)",
        "schema: table leftover extra (a fresh store has none)",
        "metrics: column run_uuid missing (a fresh store has it)",
        "metrics.value: type double (a fresh store: float)",
        "metrics.value: nullable (a fresh store: not null)",
        "metrics: primary key (key) (a fresh store: (key,run_uuid))",
        "metrics: index run_uuid missing (a fresh store has it)",
        "runs: foreign key x -> y(z) extra (a fresh store has none)",
        "runs: unique constraint run_uuid missing (a fresh store has it)",
    ]
    text = schemadiff.summary(found)
    assert text.startswith("9 difference(s)") and text.endswith("; and 4 more")
    assert "metrics.value: type double" in text
