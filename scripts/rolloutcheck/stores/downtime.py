"""How long the tracking server is down for `mlflow db upgrade`, at production's size (`nox -s bench-store`).

For each database kind (sqlite, postgresql, mysql) and size (metric rows): a store made by the *from*
label's mlflow and filled with bulk inserts (drivers/inenv/bulkfill.py), then `mlflow db upgrade` with the
*to* label, timed. The seconds are fitted as `a + b * rows` (least squares) and the growth read off the
log-log slope (1: linear; above: some revision rewrites more than it reads). Written to
results/bench-store/<from>-<to>.json, which the decision reads to size the downtime it asks to plan.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from rolloutcheck.core import paths
from rolloutcheck.core.procs import Launch, new_marker, run_logged
from rolloutcheck.stores import mysql
from rolloutcheck.stores import postgres as pgcluster

KINDS = ("sqlite", "postgresql", "mysql")
SIZES = (10_000, 100_000, 1_000_000)
RUNS = 100


class BenchError(Exception):
    """One size of one kind could not be measured (its line says why, the log has the rest)."""


@dataclass(frozen=True)
class Fit:
    intercept_s: float
    per_million_s: float  # seconds per 10^6 metric rows
    growth: float  # log-log slope: 1.0 linear

    def at(self, rows: int) -> float:
        return max(0.0, self.intercept_s + self.per_million_s * rows / 1e6)


def fit(points: Sequence[tuple[int, float]]) -> Fit:
    """Least squares `seconds = a + b * rows` and the log-log slope of the points (at least two)."""
    if len(points) < 2:
        raise ValueError("a fit needs two sizes at least")
    xs, ys = [p[0] / 1e6 for p in points], [p[1] for p in points]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    sxx = sum((x - mx) ** 2 for x in xs)
    b = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sxx if sxx else 0.0
    lx, ly = [math.log(p[0]) for p in points], [math.log(max(p[1], 1e-3)) for p in points]
    mlx, mly = sum(lx) / len(lx), sum(ly) / len(ly)
    slx = sum((x - mlx) ** 2 for x in lx)
    growth = sum((x - mlx) * (y - mly) for x, y in zip(lx, ly, strict=True)) / slx if slx else 0.0
    return Fit(round(my - b * mx, 2), round(b, 2), round(growth, 2))


def shown(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.0f} min"


def result_file(results: Path, source: str, target: str) -> Path:
    return results / "bench-store" / f"{source}-{target}.json"


def read(results: Path, source: str, target: str) -> dict | None:
    path = result_file(results, source, target)
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _database(kind: str, folder: Path, launch: Launch):
    if kind == "postgresql":
        return pgcluster.private(folder / "postgres", launch)
    if kind == "mysql":
        return mysql.private(folder / "mysql", launch)
    return None


def measure(kind: str, rows: int, source_env: Path, target_env: Path, folder: Path, environ: dict) -> dict:
    """One store of `rows` metric rows of `kind`: filled by the *from* env, upgraded by the *to* env, timed."""
    folder.mkdir(parents=True, exist_ok=True)
    log = folder / "bench.log"
    launch = Launch(environ, folder, log, new_marker(), f"bench-{kind}")
    database = _database(kind, folder, launch)
    try:
        uri = database.url if database is not None else f"sqlite:///{folder / 'mlflow.db'}"
        env = {**environ, **(database.env if database is not None else {})}
        filled = folder / "filled.json"
        fill = [str(source_env / "bin" / "python"), str(paths.INENV / "bulkfill.py"), uri, str(RUNS), str(rows),
                str(filled)]  # fmt: skip
        code, lines = run_logged(fill, log, env)
        if code != 0:
            raise BenchError(f"{kind} {rows}: filling failed: {lines[-1] if lines else 'no output'} ({log})")
        started = time.monotonic()
        code, lines = run_logged([str(target_env / "bin" / "mlflow"), "db", "upgrade", uri], log, env)
        seconds = round(time.monotonic() - started, 2)
        if code != 0:
            raise BenchError(f"{kind} {rows}: mlflow db upgrade failed: {lines[-1] if lines else 'no output'} ({log})")
        written = json.loads(filled.read_text())
        return {"kind": kind, "metric_rows": written["metric_rows"], "runs": written["runs"], "seconds": seconds,
                "fill_seconds": written["seconds"]}  # fmt: skip
    finally:
        if database is not None:
            database.stop()


def run(kinds: Sequence[str], sizes: Sequence[int], envs: tuple[Path, Path], work: Path, environ: dict,
        log=print) -> dict:  # fmt: skip
    """Every kind at every size; the points, each kind's fit and its estimate per size."""
    found: dict = {"sizes": list(sizes), "kinds": {}}
    for kind in kinds:
        points, errors = [], []
        for rows in sizes:
            try:
                point = measure(kind, rows, envs[0], envs[1], work / kind / str(rows), environ)
            except (BenchError, pgcluster.PostgresError, mysql.MysqlError) as error:
                errors.append(str(getattr(error, "reason", error)))
                log(f"{kind} {rows} rows: {errors[-1]}")
                continue
            points.append(point)
            log(f"{kind} {point['metric_rows']} rows: mlflow db upgrade {point['seconds']:.1f} s")
        entry = {"points": points, "errors": errors}
        if len(points) >= 2:
            entry["fit"] = asdict(fit([(p["metric_rows"], p["seconds"]) for p in points]))
        found["kinds"][kind] = entry
    return found


def table(found: dict) -> list[str]:
    lines = ["| kind | metric rows | runs | mlflow db upgrade | fit |", "|---|---|---|---|---|"]
    for kind, entry in found["kinds"].items():
        fitted = entry.get("fit")
        how = (f"{fitted['intercept_s']} s + {fitted['per_million_s']} s per 10^6 rows (growth x^{fitted['growth']})"
               if fitted else "; ".join(entry["errors"]) or "-")  # fmt: skip
        for point in entry["points"]:
            lines.append(f"| {kind} | {point['metric_rows']:,} | {point['runs']} | {point['seconds']:.1f} s | {how} |")
        if not entry["points"]:
            lines.append(f"| {kind} | - | - | - | {how} |")
    return lines
