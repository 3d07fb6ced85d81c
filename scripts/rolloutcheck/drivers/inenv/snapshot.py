"""A canonical JSON snapshot of a tracking store, read with the mlflow installed here.

    python snapshot.py STORE_URI OUT_JSON

Runs inside the environment under test (no imports from the tool). Records, deleted ones included:
experiments (name, stage, artifact location, tags), runs (info, params, tags, every metric point as
[step, timestamp, value], artifact listing with sizes) and, where the version has a registry,
registered models with their versions, stages, tags and aliases. Only named fields are recorded;
how a newer version's renamed or added fields line up is decided by the comparison (storediff.py).
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from urllib.parse import urlparse

import mlflow
from mlflow.entities import ViewType
from mlflow.tracking import MlflowClient

RUN_INFO = ("experiment_id", "status", "start_time", "end_time", "lifecycle_stage", "artifact_uri", "user_id")
MAX_RESULTS = 50_000  # the largest page every version accepts


def _experiments(client: MlflowClient) -> list:
    if hasattr(client, "search_experiments"):
        return list(client.search_experiments(view_type=ViewType.ALL, max_results=MAX_RESULTS))
    return list(client.list_experiments(view_type=ViewType.ALL))


def _artifacts(client: MlflowClient, run_id: str, path: str | None = None) -> list:
    listed = []
    for info in client.list_artifacts(run_id, path):
        if info.is_dir:
            listed += _artifacts(client, run_id, info.path)
        else:
            listed.append([info.path, info.file_size])
    return sorted(listed)


def _proxied(uri: str) -> list | None:
    """A run whose artifacts are behind a tracking server's proxy (`mlflow-artifacts:`), listed where that server
    keeps them (ROLLOUTCHECK_ARTIFACTS_DESTINATION, its --artifacts-destination), as the server would list them."""
    destination = os.environ.get("ROLLOUTCHECK_ARTIFACTS_DESTINATION")
    if not uri.startswith("mlflow-artifacts:") or not destination:
        return None
    root = os.path.join(destination, urlparse(uri).path.lstrip("/"))
    listed = []
    for folder, _, files in os.walk(root):
        for name in files:
            path = os.path.join(folder, name)
            listed.append([os.path.relpath(path, root), os.path.getsize(path)])
    return sorted(listed)


def _run(client: MlflowClient, run) -> dict:
    info = run.info
    record = {key: getattr(info, key, None) for key in RUN_INFO}
    if hasattr(info, "run_name"):  # added in 1.x's later releases; storediff maps it
        record["run_name"] = info.run_name
    record["params"] = dict(sorted(run.data.params.items()))
    record["tags"] = dict(sorted(run.data.tags.items()))
    record["latest_metrics"] = dict(sorted(run.data.metrics.items()))
    record["metrics"] = {
        key: sorted([m.step, m.timestamp, m.value] for m in client.get_metric_history(info.run_id, key))
        for key in sorted(run.data.metrics)
    }
    proxied = _proxied(info.artifact_uri or "")
    record["artifacts"] = proxied if proxied is not None else _artifacts(client, info.run_id)
    return record


def _registry(client: MlflowClient) -> dict | None:
    if not hasattr(client, "search_registered_models"):
        return None
    models = {}
    try:
        found = list(client.search_registered_models(max_results=1000))
    except Exception as error:  # noqa: BLE001 - e.g. a file store whose version has no file registry
        return {"unavailable": f"{type(error).__name__}: {str(error).splitlines()[0][:200]}"}
    for model in found:
        versions = client.search_model_versions(f"name='{model.name}'")
        models[model.name] = {
            "tags": dict(sorted((getattr(model, "tags", None) or {}).items())),
            "aliases": dict(sorted((getattr(model, "aliases", None) or {}).items())),
            "versions": {
                str(v.version): {
                    "run_id": v.run_id,
                    "source": v.source,
                    "current_stage": v.current_stage,
                    "status": v.status,
                    "tags": dict(sorted((getattr(v, "tags", None) or {}).items())),
                }
                for v in sorted(versions, key=lambda v: int(v.version))
            },
        }
    return {"models": dict(sorted(models.items()))}


def snapshot(uri: str) -> dict:
    mlflow.set_tracking_uri(uri)
    client = MlflowClient(uri)
    experiments, runs = {}, {}
    for experiment in _experiments(client):
        experiments[experiment.experiment_id] = {
            "name": experiment.name,
            "lifecycle_stage": experiment.lifecycle_stage,
            "artifact_location": experiment.artifact_location,
            "tags": dict(sorted((experiment.tags or {}).items())),
        }
        found = client.search_runs([experiment.experiment_id], "", run_view_type=ViewType.ALL, max_results=MAX_RESULTS)
        for run in found:
            runs[run.info.run_id] = _run(client, run)
    return {
        "mlflow_version": mlflow.__version__,
        "experiments": dict(sorted(experiments.items())),
        "runs": dict(sorted(runs.items())),
        "registry": _registry(client),
    }


def main() -> int:
    uri, out = sys.argv[1], Path(sys.argv[2])
    started = time.monotonic()
    report = snapshot(uri)
    report["seconds"] = round(time.monotonic() - started, 2)
    out.write_text(json.dumps(report, indent=1, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
