"""A migrated tracking database's schema against a fresh store's of the same mlflow (drivers/inenv/schema.py
reads both): what `mlflow db upgrade` left different (mlflow #14465: indexes never migrated, every metric
query a full scan). Pure data in, one line per difference out."""

from __future__ import annotations

from collections.abc import Iterable

SHOWN = 5  # differences named in a stage's reason


def _sets(kind: str, table: str, migrated: Iterable[str], fresh: Iterable[str]) -> list[str]:
    migrated, fresh = set(migrated), set(fresh)
    return ([f"{table}: {kind} {v} missing (a fresh store has it)" for v in sorted(fresh - migrated)]
            + [f"{table}: {kind} {v} extra (a fresh store has none)" for v in sorted(migrated - fresh)])  # fmt: skip


def differences(migrated: dict, fresh: dict) -> list[str]:
    """Every way `migrated` differs from `fresh`: the Alembic revision, tables, columns (type, nullable),
    primary keys, foreign keys, unique constraints and indexes (by their columns, not their names)."""
    found = []
    if migrated.get("revision") != fresh.get("revision"):
        found.append(f"alembic revision {migrated.get('revision')} (a fresh store: {fresh.get('revision')})")
    ours, theirs = migrated.get("tables", {}), fresh.get("tables", {})
    found += _sets("table", "schema", ours, theirs)
    for table in sorted(set(ours) & set(theirs)):
        mine, fresh_table = ours[table], theirs[table]
        found += _sets("column", table, mine["columns"], fresh_table["columns"])
        for column in sorted(set(mine["columns"]) & set(fresh_table["columns"])):
            a, b = mine["columns"][column], fresh_table["columns"][column]
            if a["type"] != b["type"]:
                found.append(f"{table}.{column}: type {a['type']} (a fresh store: {b['type']})")
            if a["nullable"] != b["nullable"]:
                found.append(f"{table}.{column}: {'nullable' if a['nullable'] else 'not null'} (a fresh store: "
                             f"{'nullable' if b['nullable'] else 'not null'})")  # fmt: skip
        if mine["primary_key"] != fresh_table["primary_key"]:
            found.append(f"{table}: primary key ({','.join(mine['primary_key'])}) (a fresh store: "
                         f"({','.join(fresh_table['primary_key'])}))")  # fmt: skip
        for kind, key in (("foreign key", "foreign_keys"), ("unique constraint", "unique"), ("index", "indexes")):
            found += _sets(kind, table, mine[key], fresh_table[key])
    return found


def summary(found: list[str]) -> str:
    if not found:
        return "the same as a fresh store's: tables, columns, keys, constraints, indexes, revision"
    more = f"; and {len(found) - SHOWN} more" if len(found) > SHOWN else ""
    return f"{len(found)} difference(s) from a fresh store's schema: " + "; ".join(found[:SHOWN]) + more
