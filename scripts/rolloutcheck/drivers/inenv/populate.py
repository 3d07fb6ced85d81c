"""Write a deterministic tracking store with the mlflow installed here (an upgrade's *from* version).

    python populate.py STORE_URI SIZE_JSON OUT_JSON

Runs inside the environment under test, with only mlflow and its dependencies: no imports from the
tool. Writes several experiments (the last one deleted), runs with params, metric histories (every
point with its own step and timestamp), tags, a nested run, a deleted run, artifacts, logged
sklearn models and, where this version has a model registry, registered models with versions,
stages and aliases. What this version cannot write is listed in OUT_JSON's `unsupported`, never
silently left out. Timestamps and values are fixed, so two stores written alike compare equal.
"""

from __future__ import annotations

import json
import math
import sys
import tempfile
import time
from pathlib import Path

import mlflow
import mlflow.sklearn
from mlflow.entities import Metric, Param, RunTag
from mlflow.tracking import MlflowClient

BASE_MS = 1_600_000_000_000  # every timestamp is BASE_MS plus an offset: deterministic histories
BATCH = 900  # log_batch takes at most 1000 entities on every version


def _value(experiment: int, run: int, step: int, metric: int) -> float:
    return round(math.sin(experiment + 0.1 * run + 0.01 * step + metric) + 2.0, 6)


def _log_metrics(client: MlflowClient, run_id: str, metrics: list[Metric]) -> None:
    for start in range(0, len(metrics), BATCH):
        client.log_batch(run_id, metrics=metrics[start : start + BATCH])


def _artifacts(client: MlflowClient, run_id: str, folder: Path, e: int, r: int) -> None:
    (folder / "notes.txt").write_text(f"experiment {e} run {r}\n")
    (folder / "data").mkdir(exist_ok=True)
    (folder / "data" / "table.csv").write_text("".join(f"{i},{i * i}\n" for i in range(10 + r)))
    client.log_artifact(run_id, str(folder / "notes.txt"))
    client.log_artifact(run_id, str(folder / "data" / "table.csv"), "data")


def _model(run_id: str, seed: int) -> None:
    import numpy as np
    from sklearn.linear_model import ElasticNet

    rng = np.random.RandomState(seed)
    x = rng.rand(50, 3)
    y = x @ np.array([1.0, 2.0, 3.0])
    with mlflow.start_run(run_id=run_id):
        mlflow.sklearn.log_model(ElasticNet(alpha=0.1, random_state=seed).fit(x, y), "model")


def _register(client: MlflowClient, name: str, run_id: str, done: dict, unsupported: list[str]) -> None:
    if not hasattr(client, "create_registered_model"):
        unsupported.append(f"model registry: mlflow {mlflow.__version__} has none")
        return
    try:
        client.create_registered_model(name)
        version = client.create_model_version(name, f"runs:/{run_id}/model", run_id)
        done["model_versions"] += 1
    except Exception as error:  # noqa: BLE001 - e.g. a file store without registry support
        unsupported.append(f"model registry: {type(error).__name__}: {str(error).splitlines()[0][:200]}")
        return
    done["registered_models"] += 1
    for what, call in (
        ("model version stage", lambda: client.transition_model_version_stage(name, version.version, "Staging")),
        ("registered model alias", lambda: client.set_registered_model_alias(name, "champion", version.version)),
        ("registered model tag", lambda: client.set_registered_model_tag(name, "owner", "platform")),
        ("model version tag", lambda: client.set_model_version_tag(name, version.version, "validated", "yes")),
    ):
        try:
            call()
        except (AttributeError, Exception) as error:  # noqa: BLE001 - recorded as unsupported, not hidden
            unsupported.append(f"{what}: {type(error).__name__}: {str(error).splitlines()[0][:200]}")


def populate(uri: str, size: dict) -> dict:
    mlflow.set_tracking_uri(uri)
    client = MlflowClient(uri)
    done = {k: 0 for k in ("experiments", "runs", "metric_points", "params", "tags", "artifacts",
                           "models", "registered_models", "model_versions")}  # fmt: skip
    unsupported: list[str] = []
    experiments = []
    with tempfile.TemporaryDirectory() as scratch:
        for e in range(size["experiments"]):
            experiment_id = client.create_experiment(f"store-check-{e}")
            experiments.append(experiment_id)
            client.set_experiment_tag(experiment_id, "team", f"team-{e % 2}")
            done["experiments"] += 1
            parent = None
            for r in range(size["runs"]):
                start = BASE_MS + e * 10_000_000 + r * 100_000
                tags = {"mlflow.runName": f"run-{e}-{r}", "kind": "child" if parent else "top"}
                if parent and r == 1:
                    tags["mlflow.parentRunId"] = parent
                run = client.create_run(experiment_id, start_time=start, tags=tags)
                run_id = run.info.run_id
                parent = parent or run_id
                params = [Param(f"p{i}", f"{e}.{r}.{i}") for i in range(4)]
                client.log_batch(run_id, params=params, tags=[RunTag("seed", str(e * 100 + r))])
                metrics = [
                    Metric(f"m{k}", _value(e, r, step, k), start + 1000 * step, step)
                    for k in range(2)
                    for step in range(size["steps"])
                ]
                _log_metrics(client, run_id, metrics)
                _artifacts(client, run_id, Path(scratch), e, r)
                done["runs"] += 1
                done["metric_points"] += len(metrics)
                done["params"] += len(params)
                done["tags"] += len(tags) + 1
                done["artifacts"] += 2
                client.set_terminated(run_id, "FINISHED", end_time=start + 1000 * size["steps"])
                if r == size["runs"] - 1 and r > 1:
                    client.delete_run(run_id)  # a deleted run must stay deleted, and still be there
        model_runs = []
        for m in range(size["models"]):
            run = client.create_run(
                experiments[0], start_time=BASE_MS + 9_000_000 + m, tags={"mlflow.runName": f"model-{m}"}
            )
            _model(run.info.run_id, seed=m)
            client.set_terminated(run.info.run_id, "FINISHED", end_time=BASE_MS + 9_500_000 + m)
            model_runs.append(run.info.run_id)
            done["models"] += 1
            done["runs"] += 1
            _register(client, f"store-check-model-{m}", run.info.run_id, done, unsupported)
    if len(experiments) > 1:
        client.delete_experiment(experiments[-1])
    return {"mlflow_version": mlflow.__version__, "written": done, "unsupported": sorted(set(unsupported)),
            "model_runs": model_runs}  # fmt: skip


def main() -> int:
    uri, size, out = sys.argv[1], json.loads(sys.argv[2]), Path(sys.argv[3])
    started = time.monotonic()
    report = populate(uri, size)
    report["seconds"] = round(time.monotonic() - started, 2)
    out.write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
