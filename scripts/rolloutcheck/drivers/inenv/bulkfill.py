"""Fill a tracking store to a size, fast (`python bulkfill.py STORE_URI RUNS METRIC_ROWS OUT_JSON`).

Runs inside the *from* label's environment: its mlflow makes the schema (the tracking server's own
initialisation) and the runs through its client, then the metric rows go in as bulk inserts into its
`metrics` table (and `latest_metrics` where this version has it), not one client call per row: a store
of a million metric points in seconds, shaped as mlflow writes them. Used to time `mlflow db upgrade`
at production's size (nox -s bench-store).
"""

from __future__ import annotations

import json
import sys
import tempfile
import time

import sqlalchemy
from mlflow.tracking import MlflowClient

BASE_MS = 1_600_000_000_000
CHUNK = 10_000
KEYS = 10  # metric names per run


def main(uri: str, runs: int, rows: int, out: str) -> None:
    client = MlflowClient(tracking_uri=uri)
    experiment = client.create_experiment("bulk", artifact_location=tempfile.mkdtemp(prefix="bulk-artifacts-"))
    run_ids = [client.create_run(experiment).info.run_id for _ in range(runs)]
    engine = sqlalchemy.create_engine(uri)
    metrics = sqlalchemy.Table("metrics", sqlalchemy.MetaData(), autoload_with=engine)
    columns = set(metrics.c.keys())
    per_run = max(1, rows // runs)
    started, written = time.monotonic(), 0
    with engine.begin() as connection:
        batch = []
        for index, run_id in enumerate(run_ids):
            for n in range(per_run):
                row = {"key": f"m{n % KEYS}", "value": float(n % 97) / 7.0, "timestamp": BASE_MS + n,
                       "run_uuid": run_id, "step": n // KEYS, "is_nan": False}  # fmt: skip
                batch.append({k: v for k, v in row.items() if k in columns})
                if len(batch) == CHUNK:
                    connection.execute(metrics.insert(), batch)
                    written, batch = written + len(batch), []
            if index == len(run_ids) - 1 and batch:
                connection.execute(metrics.insert(), batch)
                written += len(batch)
        inspector = sqlalchemy.inspect(connection)
        if inspector.has_table("latest_metrics"):
            latest = sqlalchemy.Table("latest_metrics", sqlalchemy.MetaData(), autoload_with=connection)
            keep = set(latest.c.keys())
            rows_latest = [{k: v for k, v in {"key": f"m{k}", "value": 1.0, "timestamp": BASE_MS, "step": 0,
                                              "is_nan": False, "run_uuid": r}.items() if k in keep}
                           for r in run_ids for k in range(min(KEYS, per_run))]  # fmt: skip
            connection.execute(latest.insert(), rows_latest)
    engine.dispose()
    with open(out, "w") as handle:
        json.dump({"runs": runs, "metric_rows": written, "seconds": round(time.monotonic() - started, 2)}, handle)
    print(out)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4])
