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


def download_model(model_uri, target):
    try:  # mlflow 2+
        from mlflow.artifacts import download_artifacts

        return download_artifacts(artifact_uri=model_uri, dst_path=target)
    except ImportError:
        from mlflow.tracking.artifact_utils import _download_artifact_from_uri

        return _download_artifact_from_uri(model_uri, output_path=target)


def logged_models(client, run):
    """3.x: the run's LoggedModel outputs as (name, models:/<id>); [] before 3.0."""
    outputs = getattr(getattr(run, "outputs", None), "model_outputs", None) or []
    found = []
    for output in outputs:
        try:
            name = client.get_logged_model(output.model_id).name
        except Exception:  # noqa: BLE001 - a dangling output is listed by id
            name = output.model_id
        found.append((name, f"models:/{output.model_id}"))
    return found


def artifact_models(client, run_id, path=None, depth=0):
    """Before 3.0: every run artifact folder holding an MLmodel, as (path, runs:/<id>/<path>)."""
    found = []
    for item in client.list_artifacts(run_id, path) if depth < 4 else []:
        if not item.is_dir and os.path.basename(item.path) == "MLmodel" and path:
            found.append((path, f"runs:/{run_id}/{path}"))
        elif item.is_dir:
            found += artifact_models(client, run_id, item.path, depth + 1)
    return found


def find_model(client, run, model_path, problems):
    """The run's model the way the label's own client finds it: its logged model outputs (3.x),
    else run artifacts; `model_path` picks one by name, else the run must have logged exactly one."""
    candidates = logged_models(client, run) or artifact_models(client, run.info.run_id)
    if model_path:
        named = [uri for name, uri in candidates if name == model_path]
        return named[0] if named else f"runs:/{run.info.run_id}/{model_path}"
    if len(candidates) == 1:
        return candidates[0][1]
    listed = ", ".join(f"{name} ({uri})" for name, uri in candidates) or "none"
    problems.append(
        f"the run logged {len(candidates)} models, not exactly one (found: {listed}); name one as model_path"
    )
    return None


def input_example(local, mlmodel):
    """The example the model's author logged, as a payload (probes/forms.py), plus the ready serving
    body logged beside it (2.15+); None when the model logged none."""
    info = mlmodel.get("saved_input_example_info") or {}
    path = info.get("artifact_path")
    if not path or not os.path.isfile(os.path.join(local, path)):
        return None
    with open(os.path.join(local, path)) as handle:
        data = json.load(handle)
    kind = info.get("type")
    if kind == "dataframe" and isinstance(data, dict) and "data" in data:
        payload = {"kind": "frame", "columns": data.get("columns"), "data": data["data"]}
    elif kind == "dataframe" and isinstance(data, list):
        payload = {"kind": "records", "data": data}
    elif kind == "ndarray":
        inputs = data.get("inputs", data) if isinstance(data, dict) else data
        payload = {"kind": "named" if isinstance(inputs, dict) else "tensor", "data": inputs}
    else:
        return {"unreadable": f"input example of type {kind!r} ({path})"}
    serving = info.get("serving_input_path")
    if serving and os.path.isfile(os.path.join(local, serving)):
        with open(os.path.join(local, serving)) as handle:
            payload["serving_body"] = handle.read()
        payload["serving_file"] = serving
    payload["file"] = path
    return payload


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
    for name in spec["metrics"] or sorted(run.data.metrics):  # none named: every logged one
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
    model_uri = find_model(client, run, spec.get("model_path"), problems)
    if model_uri is None:
        return None
    out["model_uri"] = model_uri
    local = download_model(model_uri, tempfile.mkdtemp(dir=spec["work_dir"]))
    with open(os.path.join(local, "MLmodel")) as handle:
        mlmodel = yaml.safe_load(handle) or {}
    flavors = set(mlmodel.get("flavors", {}))
    out["flavors"] = sorted(flavors)
    if "python_function" not in flavors:
        problems.append(f"MLmodel has no python_function flavor (has {sorted(flavors)})")
    wanted = [spec["flavor"], *spec.get("fallback_flavors", [])]
    used = next((f for f in wanted if f in flavors), None)
    if used is None:
        problems.append(f"MLmodel lacks flavor {spec['flavor']} (has {sorted(flavors)})")
    out["flavor"] = used
    out["input_example"] = input_example(local, mlmodel)
    return local


def conform(model, data):
    """Cast inputs the way the server's parser does from the signature: JSON ints into double
    columns (a frame or named tensors), a tensor into its spec's dtype."""
    import numpy as np

    try:
        schema = model.metadata.get_input_schema()
    except AttributeError:  # mlflow before signatures
        return data
    if schema is None:
        return data
    if isinstance(data, np.ndarray):
        specs = getattr(schema, "inputs", [])
        dtype = getattr(specs[0], "type", None) if len(specs) == 1 and schema.is_tensor_spec() else None
        return data.astype(dtype) if isinstance(dtype, np.dtype) else data
    if not schema.has_input_names():
        return data
    for column in schema.inputs:
        kind = getattr(column.type, "name", str(column.type))
        if column.name in data and kind in ("double", "float"):
            data[column.name] = data[column.name].astype("float32" if kind == "float" else "float64")
    return data


def model_input(payload, features):
    """What the scoring server hands the model for this payload (probes/forms.py's kinds)."""
    import io

    import numpy as np
    import pandas as pd

    kind, data = payload["kind"], payload.get("data")
    if kind == "tensor":
        return np.asarray(data)
    if kind == "named":
        return {name: np.asarray(value) for name, value in data.items()}
    if kind == "csv":
        frame = pd.read_csv(io.StringIO(payload["text"]))
    elif kind == "records":
        frame = pd.DataFrame(data)
    else:
        frame = pd.DataFrame(data, columns=payload.get("columns"))
    columns = list(frame.columns)
    if features and len(set(columns)) == len(columns) and set(columns) == set(features):
        frame = frame[features]  # align by name, as the training code saw them
    return frame


def oracle(spec, model_dir, out):
    import mlflow.pyfunc

    model = mlflow.pyfunc.load_model(model_dir)
    probes = dict(spec["probes"])
    example = out.get("input_example")
    if example and "kind" in example:
        probes[spec["example_probe"]] = example
    for name, payload in probes.items():
        try:
            data = model_input(payload, spec.get("features") or [])
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
        if model_dir is not None:
            out["model_dir"] = os.path.abspath(model_dir)  # the artifact as logged, for other versions to serve
            oracle(spec, model_dir, out)
    except Exception as error:  # noqa: BLE001 - the caller turns it into a tracking failure
        traceback.print_exc()
        out["error"] = f"{type(error).__name__}: {error}"
    with open(out_path, "w") as handle:
        json.dump(out, handle, indent=2)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
