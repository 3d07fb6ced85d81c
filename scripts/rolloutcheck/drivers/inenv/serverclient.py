"""What a client of production's tracking server does, with the mlflow installed here, through one URL.

    python serverclient.py TRACKING_URL WHO OUT_JSON

Runs inside a label's environment (every mlflow from 1.2 on; no imports from the tool): reads the Default
experiment, creates an experiment and a run, logs a param, a metric and a tag, uploads an artifact and
downloads it again, ends the run, then reads the run back and compares; all by id. Exits non-zero with the
server's own answer as its last line on the first request that fails. Then looks the experiment up by its
name, as `mlflow.set_experiment` does: a refusal is written to OUT_JSON (`by_name_refused`), judged by the stage.
"""

import json
import os
import sys
import tempfile
import time

# the URL is the local ingress: never through a proxy the caller's environment may name
os.environ["NO_PROXY"] = os.environ["no_proxy"] = "127.0.0.1,localhost"

from mlflow.tracking import MlflowClient  # noqa: E402 - after the proxy setting it must see


def main(url: str, who: str, out: str) -> None:
    client = MlflowClient(tracking_uri=url)
    done = {"read": client.get_experiment("0").name}
    name = f"rolloutcheck-server-{who}-{time.time_ns()}"  # a new one each time: the work is done by id
    experiment_id = client.create_experiment(name)
    run_id = client.create_run(experiment_id).info.run_id
    client.log_param(run_id, "who", who)
    client.log_metric(run_id, "answer", 42.5, timestamp=int(time.time() * 1000), step=1)
    client.set_tag(run_id, "checked-by", "rolloutcheck")
    with tempfile.TemporaryDirectory() as folder:
        note = os.path.join(folder, "note.txt")
        with open(note, "w") as handle:
            handle.write(f"written by {who}\n")
        client.log_artifact(run_id, note)
        os.mkdir(os.path.join(folder, "back"))  # 1.x wants the destination to exist
        fetched = client.download_artifacts(run_id, "note.txt", os.path.join(folder, "back"))
        with open(fetched) as handle:
            done["artifact"] = handle.read().strip()
    client.set_terminated(run_id)
    back = client.get_run(run_id)
    done.update(params=dict(back.data.params), metrics=dict(back.data.metrics), status=back.info.status)
    done["tag"] = back.data.tags.get("checked-by")
    wanted = {"params": {"who": who}, "metrics": {"answer": 42.5}, "status": "FINISHED", "tag": "rolloutcheck",
              "artifact": f"written by {who}"}  # fmt: skip
    try:  # what `mlflow.set_experiment(name)` does: a lookup by name (1.x clients list every experiment for it)
        found = client.get_experiment_by_name(name)
        done["by_name"] = found.experiment_id if found else None
    except Exception as error:  # noqa: BLE001 - said in OUT_JSON: the stage judges it on its own
        done["by_name_refused"] = f"{type(error).__name__}: {error}".splitlines()[0][:400]
    else:
        wanted["by_name"] = experiment_id
    if os.environ.get("ROLLOUTCHECK_AUTH"):
        done["auth"] = auth(url, experiment_id, os.environ["ROLLOUTCHECK_AUTH"])
    wrong = {key: done.get(key) for key, value in wanted.items() if done.get(key) != value}
    if wrong:
        raise SystemExit(f"read back differs from what was written: {json.dumps(wrong, sort_keys=True)}")
    with open(out, "w") as handle:
        json.dump({"run_id": run_id, "experiment_id": experiment_id, **done}, handle, indent=1, sort_keys=True)


def auth(url: str, experiment_id: str, mode: str) -> dict:
    """The basic-auth app: a request without credentials, then (`write`) a user and its permission on the
    experiment created by the admin, and (both modes) that user and permission read back and the user let in."""
    import requests

    session = requests.Session()
    session.trust_env = False  # the ingress on 127.0.0.1 only
    api = url.rstrip("/") + "/api/2.0/mlflow"
    admin = (os.environ["MLFLOW_TRACKING_USERNAME"], os.environ["MLFLOW_TRACKING_PASSWORD"])
    user, password = os.environ["ROLLOUTCHECK_AUTH_USER"], os.environ["ROLLOUTCHECK_AUTH_USER_PASSWORD"]

    def call(method, path, credentials=admin, **kwargs):
        answer = session.request(method, api + path, auth=credentials, timeout=60, **kwargs)
        if answer.status_code != 200:
            raise SystemExit(f"{method} {path}: HTTP {answer.status_code}: {answer.text.strip()[:300]}")
        return answer.json()

    found = {"unauthenticated": session.get(api + "/experiments/get", params={"experiment_id": "0"}, timeout=60)
             .status_code}  # fmt: skip
    if mode == "write":
        call("POST", "/users/create", json={"username": user, "password": password})
        call("POST", "/experiments/permissions/create",
             json={"experiment_id": experiment_id, "username": user, "permission": "EDIT"})  # fmt: skip
        found["experiment_id"] = experiment_id
    else:
        experiment_id = os.environ["ROLLOUTCHECK_AUTH_EXPERIMENT"]
    read = call("GET", "/users/get", params={"username": user})["user"]
    # the 2.x permission API; 3.x moved it (/api/3.0/mlflow/users/permissions/get): a refusal said, then read there
    old = session.get(api + "/experiments/permissions/get", auth=admin, timeout=60,
                      params={"experiment_id": experiment_id, "username": user})  # fmt: skip
    if old.status_code == 200:
        permission = old.json()["experiment_permission"]["permission"]
    else:
        found["permission_api_refused"] = f"GET /api/2.0/mlflow/experiments/permissions/get: HTTP {old.status_code}"
        v3 = url.rstrip("/") + "/api/3.0/mlflow/users/permissions/get"
        answer = session.get(v3, auth=admin, timeout=60, params={"username": user, "resource_type": "experiment",
                                                                  "resource_id": experiment_id})  # fmt: skip
        if answer.status_code != 200:
            raise SystemExit(f"{found['permission_api_refused']}; GET {v3}: HTTP {answer.status_code}")
        permission = answer.json()["permission"]
        found["permission_api"] = "/api/3.0/mlflow/users/permissions/get"
    call("GET", "/experiments/get", credentials=(user, password), params={"experiment_id": experiment_id})
    found["read"] = {"username": read.get("username"), "is_admin": read.get("is_admin"), "permission": permission,
                     "user let in": True}  # fmt: skip
    return found


if __name__ == "__main__":
    main(*sys.argv[1:4])
