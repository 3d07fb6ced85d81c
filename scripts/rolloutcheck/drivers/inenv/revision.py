"""Print the Alembic revision of a tracking database (`python revision.py DB_URI`), or `none`.

Runs inside the environment under test, with its SQLAlchemy and database driver.
"""

import sys

import sqlalchemy


def main(uri: str) -> None:
    engine = sqlalchemy.create_engine(uri)
    with engine.connect() as connection:
        if not sqlalchemy.inspect(connection).has_table("alembic_version"):
            print("none")
            return
        rows = connection.execute(sqlalchemy.text("SELECT version_num FROM alembic_version")).fetchall()
    print(",".join(sorted(r[0] for r in rows)) or "none")


if __name__ == "__main__":
    main(sys.argv[1])
