"""Production's models as production's own mlflow client sees them, read only.

    python inventory.py list TRACKING_URI OUT_JSON [EXPERIMENT...]
    python inventory.py download TRACKING_URI ARTIFACT_URI DEST

Runs inside an environment of production's label (no imports from the tool). `list` writes the registry's
model versions (name, version, source, run id, stage, aliases) with the runs they come from, and the
active runs of the experiments named (id, artifact URI, tags). `download` copies one model's artifacts
(`runs:/...`, `models:/...`, `mlflow-artifacts:/...`, `s3://...`) into DEST. Only reading calls are made:
get, search and list on the tracking server, downloads from the artifact store; never a write.
Credentials are the ones mlflow itself reads (MLFLOW_TRACKING_USERNAME / _PASSWORD / _TOKEN, AWS_*):
from the environment, never an argument, never written.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import mlflow
from mlflow.entities import ViewType
from mlflow.tracking import MlflowClient

PAGE = 1000
MAX_DEPTH = 4  # how deep under a run's artifacts an MLmodel is looked for (as for a copy)


def _versions(client: MlflowClient) -> list[dict]:
    if not hasattr(client, "search_model_versions"):
        return []  # mlflow before the registry (1.4)
    found, aliases = [], {}
    for version in _every_version(client):
        if version.name not in aliases:  # {alias: version} (2.3+), one read per registered model
            aliases[version.name] = getattr(client.get_registered_model(version.name), "aliases", None) or {}
        found.append(
            {
                "name": version.name,
                "version": str(version.version),
                "source": version.source or "",
                "run_id": version.run_id or None,
                "stage": getattr(version, "current_stage", None),
                "aliases": sorted(a for a, v in aliases[version.name].items() if str(v) == str(version.version)),
            }
        )
    return sorted(found, key=lambda v: (v["name"], int(v["version"])))


def _every_version(client: MlflowClient) -> list:
    """Every model version, page by page (clients before paging answer one list)."""
    try:
        page = client.search_model_versions("", max_results=PAGE)
    except TypeError:
        return list(client.search_model_versions(""))
    found = list(page)
    while getattr(page, "token", None):
        page = client.search_model_versions("", max_results=PAGE, page_token=page.token)
        found += list(page)
    return found


def _run(client: MlflowClient, run_id: str) -> dict | None:
    try:
        run = client.get_run(run_id)
    except Exception:  # noqa: BLE001 - a version whose run is gone: its source is all there is
        return None
    return {
        "run_id": run.info.run_id,
        "experiment": client.get_experiment(run.info.experiment_id).name,
        "artifact_uri": run.info.artifact_uri,
        "tags": dict(run.data.tags),
        "lifecycle_stage": run.info.lifecycle_stage,
    }


def _runs_of(client: MlflowClient, name: str) -> list[dict]:
    experiment = client.get_experiment_by_name(name)
    if experiment is None:
        return []
    runs = client.search_runs([experiment.experiment_id], "", run_view_type=ViewType.ACTIVE_ONLY, max_results=PAGE)
    found = [
        {
            "run_id": r.info.run_id,
            "experiment": name,
            "artifact_uri": r.info.artifact_uri,
            "tags": dict(r.data.tags),
            "start_time": r.info.start_time or 0,
            "models": _models_under(client, r.info.run_id),
        }
        for r in runs
    ]
    return sorted(found, key=lambda r: (r["start_time"], r["run_id"]))


def _models_under(client: MlflowClient, run_id: str, path: str | None = None, depth: int = 0) -> list[str]:
    """The artifact paths of a run that hold an MLmodel (at most MAX_DEPTH folders down)."""
    listed = client.list_artifacts(run_id, path)
    if any(not info.is_dir and info.path.rsplit("/", 1)[-1] == "MLmodel" for info in listed):
        return [path or ""]
    if depth >= MAX_DEPTH:
        return []
    return [found for info in listed if info.is_dir for found in _models_under(client, run_id, info.path, depth + 1)]


def listing(uri: str, out: Path, experiments: list[str]) -> None:
    mlflow.set_tracking_uri(uri)  # `mlflow-artifacts:` URIs resolve against the global one, not the client's
    client = MlflowClient(tracking_uri=uri)
    versions = _versions(client)
    runs = {v["run_id"]: _run(client, v["run_id"]) for v in versions if v["run_id"]}
    out.write_text(
        json.dumps(
            {
                "mlflow": mlflow.__version__,
                "versions": versions,
                "runs": {k: v for k, v in runs.items() if v},
                "experiments": {name: _runs_of(client, name) for name in experiments},
            },
            indent=1,
        )
    )


def download(uri: str, artifact_uri: str, dest: Path) -> None:
    mlflow.set_tracking_uri(uri)
    dest.mkdir(parents=True, exist_ok=True)
    if hasattr(mlflow, "artifacts") and hasattr(mlflow.artifacts, "download_artifacts"):
        mlflow.artifacts.download_artifacts(artifact_uri=artifact_uri, dst_path=str(dest))
        return
    run_id, _, path = artifact_uri.removeprefix("runs:/").partition("/")  # mlflow before 1.25: runs:/ only
    MlflowClient(tracking_uri=uri).download_artifacts(run_id, path, str(dest))


def main(argv: list[str]) -> int:
    if len(argv) >= 3 and argv[0] == "list":
        listing(argv[1], Path(argv[2]), argv[3:])
        return 0
    if len(argv) == 4 and argv[0] == "download":
        download(argv[1], argv[2], Path(argv[3]))
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
