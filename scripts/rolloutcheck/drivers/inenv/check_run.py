"""Check what tracking recorded for one run and compute oracle predictions, with the env's mlflow.

Run as `python check_run.py SPEC.json OUT.json` by the environment under test, so it must work
on every mlflow from 1.2 on and import nothing from the validator. One process does both jobs
because importing mlflow costs seconds.
"""

import json
import math
import os
import sys
import tempfile
import traceback


def flat(values):
    """Predictions as a flat list: numbers as floats, class labels (strings) as they are."""
    import numpy as np

    found = []
    for value in np.asarray(values, dtype=object).ravel().tolist():
        if isinstance(value, bytes):
            value = value.decode()
        found.append(value if isinstance(value, str) else float(value))
    return found


def same_param(logged, wanted):
    try:
        return math.isclose(float(logged), float(wanted))
    except (TypeError, ValueError):
        return str(logged) == str(wanted)


def download_model(run_id, model_path, target):
    try:  # mlflow 2+
        from mlflow.artifacts import download_artifacts

        return download_artifacts(artifact_uri=f"runs:/{run_id}/{model_path}", dst_path=target)
    except ImportError:
        from mlflow.tracking.artifact_utils import _download_artifact_from_uri

        return _download_artifact_from_uri(f"runs:/{run_id}/{model_path}", output_path=target)


def check_tracking(spec, problems, out):
    import yaml
    from mlflow.tracking import MlflowClient

    client = MlflowClient(spec["tracking_uri"])
    run = client.get_run(spec["run_id"])
    if run.info.status != "FINISHED":
        problems.append(f"run status is {run.info.status}, not FINISHED")
    for name, wanted in spec["params"].items():
        logged = run.data.params.get(name)
        if logged is None:
            problems.append(f"param {name} was not logged")
        elif not same_param(logged, wanted):
            problems.append(f"param {name} is {logged!r}, passed {wanted!r}")
    for name in spec["metrics"]:
        value = run.data.metrics.get(name)
        if value is None:
            problems.append(f"metric {name} was not logged")
        elif not math.isfinite(value):
            problems.append(f"metric {name} is {value}")
    out["metrics"] = dict(run.data.metrics)
    if spec["store_kind"] == "file":
        run_dir = os.path.join(spec["store_dir"], run.info.experiment_id, spec["run_id"])
        for part in ("meta.yaml", "metrics", "params", "artifacts"):
            if not os.path.exists(os.path.join(run_dir, part)):
                problems.append(f"file store lacks {os.path.relpath(os.path.join(run_dir, part), spec['store_dir'])}")
    local = download_model(spec["run_id"], spec["model_path"], tempfile.mkdtemp(dir=spec["work_dir"]))
    with open(os.path.join(local, "MLmodel")) as handle:
        flavors = set((yaml.safe_load(handle) or {}).get("flavors", {}))
    out["flavors"] = sorted(flavors)
    if "python_function" not in flavors:
        problems.append(f"MLmodel has no python_function flavor (has {sorted(flavors)})")
    wanted = [spec["flavor"], *spec.get("fallback_flavors", [])]
    used = next((f for f in wanted if f in flavors), None)
    if used is None:
        problems.append(f"MLmodel lacks flavor {spec['flavor']} (has {sorted(flavors)})")
    out["flavor"] = used
    return local


def conform(model, data):
    """Cast columns the way the server does from the signature (JSON ints into double columns)."""
    try:
        schema = model.metadata.get_input_schema()
    except AttributeError:  # mlflow before signatures
        return data
    if schema is None or not schema.has_input_names():
        return data
    for column in schema.inputs:
        kind = getattr(column.type, "name", str(column.type))
        if column.name in data.columns and kind in ("double", "float"):
            data[column.name] = data[column.name].astype("float32" if kind == "float" else "float64")
    return data


def oracle(spec, model_dir, out):
    import mlflow.pyfunc
    import pandas as pd

    model = mlflow.pyfunc.load_model(model_dir)
    features = spec.get("features") or []
    for name, frame in spec["probes"].items():
        try:
            columns = frame["columns"]
            data = pd.DataFrame(frame["data"], columns=columns)
            if features and len(set(columns)) == len(columns) and set(columns) == set(features):
                data = data[features]  # align by name, as the training code saw them
            out["oracle"][name] = flat(model.predict(conform(model, data)))
        except Exception as error:  # noqa: BLE001 - reported per probe, the others still run
            out["oracle_errors"][name] = f"{type(error).__name__}: {error}"


def main(spec_path, out_path):
    with open(spec_path) as handle:
        spec = json.load(handle)
    out = {"problems": [], "oracle": {}, "oracle_errors": {}, "error": None}
    try:
        import mlflow

        out["mlflow_version"] = mlflow.__version__
        mlflow.set_tracking_uri(spec["tracking_uri"])
        model_dir = check_tracking(spec, out["problems"], out)
        out["model_dir"] = os.path.abspath(model_dir)  # the artifact as logged, for other versions to serve
        oracle(spec, model_dir, out)
    except Exception as error:  # noqa: BLE001 - the caller turns it into a tracking failure
        traceback.print_exc()
        out["error"] = f"{type(error).__name__}: {error}"
    with open(out_path, "w") as handle:
        json.dump(out, handle, indent=2)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
