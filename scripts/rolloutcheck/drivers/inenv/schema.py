"""Write the schema of a tracking database as JSON (`python schema.py DB_URI OUT.json [--fresh]`).

Runs inside the *to* label's environment, with its SQLAlchemy and driver: tables, their columns (type,
nullable), primary keys, foreign keys, unique constraints and indexes, read with SQLAlchemy's inspector
(the same code for SQLite, PostgreSQL and MySQL), and the Alembic revision. With `--fresh` the database
is first initialised the way the tracking server does it for an empty store (mlflow's SqlAlchemyStore),
which is what a store made new on this version looks like.
"""

import json
import sys
import tempfile

import sqlalchemy


def _fresh(uri: str) -> None:
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

    SqlAlchemyStore(uri, tempfile.mkdtemp(prefix="schema-artifacts-"))


def _type(column: dict) -> str:
    try:
        return str(column["type"].compile()).lower()
    except Exception:  # noqa: BLE001 - a dialect type without a generic form: its class name
        return type(column["type"]).__name__.lower()


def read(uri: str) -> dict:
    engine = sqlalchemy.create_engine(uri)
    inspector = sqlalchemy.inspect(engine)
    tables = {}
    for table in sorted(inspector.get_table_names()):
        columns = {c["name"]: {"type": _type(c), "nullable": bool(c["nullable"])} for c in inspector.get_columns(table)}
        pk = inspector.get_pk_constraint(table) or {}
        fks = sorted(
            f"{','.join(fk['constrained_columns'])} -> {fk['referred_table']}({','.join(fk['referred_columns'])})"
            for fk in inspector.get_foreign_keys(table)
        )
        uniques = sorted(",".join(u["column_names"]) for u in inspector.get_unique_constraints(table))
        indexes = sorted(
            f"{'unique ' if i.get('unique') else ''}{','.join(str(c) for c in i['column_names'] if c)}"
            for i in inspector.get_indexes(table)
        )
        tables[table] = {"columns": columns, "primary_key": sorted(pk.get("constrained_columns") or []),
                         "foreign_keys": fks, "unique": uniques, "indexes": indexes}  # fmt: skip
    revision = "none"
    if "alembic_version" in tables:
        with engine.connect() as connection:
            rows = connection.execute(sqlalchemy.text("SELECT version_num FROM alembic_version")).fetchall()
        revision = ",".join(sorted(r[0] for r in rows)) or "none"
    engine.dispose()
    return {"dialect": engine.dialect.name, "revision": revision, "tables": tables}


def main(uri: str, out: str, fresh: bool) -> None:
    if fresh:
        _fresh(uri)
    with open(out, "w") as handle:
        json.dump(read(uri), handle, indent=1, sort_keys=True)
    print(out)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], "--fresh" in sys.argv[3:])
