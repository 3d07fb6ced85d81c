"""Every request body a scoring server accepts, read into one *payload* the oracle can predict on.

A payload is JSON-ready data for inenv/check_run.py, which turns it into what the server hands the
model: a DataFrame (`frame`: columns + rows; `records`: a list of row mappings; `csv`: the text),
an ndarray (`tensor`), or a dict of ndarrays (`named`). The forms, by mlflow version:
    2.0+   application/json {"dataframe_split"|"dataframe_records"|"instances"|"inputs": ...}, text/csv
    1.x    application/json (split orient), `format=pandas-split` / `pandas-records`, text/csv,
           and {"instances"|"inputs": ...} (tf-serving form, 1.20+)
A body none of these reads gives None (the caller decides whether that is a config failure).
"""

from __future__ import annotations

import json
from typing import Any

from rolloutcheck.core import versionmatch
from rolloutcheck.probes import curl

Payload = dict[str, Any]


def _frame(split: object) -> Payload | None:
    if isinstance(split, dict) and isinstance(split.get("data"), list):
        columns = split.get("columns")
        if columns is None or isinstance(columns, list):
            return {"kind": "frame", "columns": columns, "data": split["data"]}
    return None


def _records(records: object) -> Payload | None:
    if isinstance(records, list) and records and all(isinstance(r, dict) for r in records):
        return {"kind": "records", "data": records}
    return None


def _tensors(value: object, rows: bool) -> Payload | None:
    """tf-serving's forms: `inputs` (columnar: a dict of tensors, or one tensor) and `instances`
    (row form: a list of mappings becomes one tensor per key)."""
    if isinstance(value, dict) and value:
        return {"kind": "named", "data": value}
    if isinstance(value, list) and value:
        if rows and all(isinstance(r, dict) for r in value):
            keys = list(dict.fromkeys(k for r in value for k in r))
            return {"kind": "named", "data": {k: [r.get(k) for r in value] for k in keys}}
        return {"kind": "tensor", "data": value}
    return None


def from_body(body: str | None, content_type: str = "application/json") -> Payload | None:
    """The payload of a request body sent with `content_type`; None when no scoring server reads it."""
    kind = content_type.lower()
    if "csv" in kind:
        return {"kind": "csv", "text": body} if body and body.strip() else None
    try:
        data = json.loads(body or "")
    except ValueError:
        return None
    if "pandas-records" in kind:
        return _records(data)
    if isinstance(data, dict):
        if "dataframe_split" in data:
            return _frame(data["dataframe_split"])
        if "dataframe_records" in data:
            return _records(data["dataframe_records"])
        if "instances" in data:
            return _tensors(data["instances"], rows=True)
        if "inputs" in data:
            return _tensors(data["inputs"], rows=False)
    return _frame(data)  # 1.x's default (and `format=pandas-split`): split orient


def of(request: curl.Request) -> Payload | None:
    return from_body(request.body, request.content_type or "application/json")


def body_for(payload: Payload, mlflow_version: str) -> tuple[str, str]:
    """(content type, body) that sends `payload` to the scoring server of `mlflow_version`."""
    kind, data = payload["kind"], payload.get("data")
    if kind == "csv":
        return "text/csv", payload["text"]
    if kind in ("tensor", "named"):
        return "application/json", json.dumps({"inputs": data})
    split = {"columns": payload.get("columns"), "data": data} if kind == "frame" else None
    if split is not None and split["columns"] is None:
        split.pop("columns")
    if versionmatch.matches("<2", mlflow_version):  # the 1.x protocol, on the release (2.0.0rc0 is 2.x)
        if kind == "records":
            return "application/json; format=pandas-records", json.dumps(data)
        return "application/json; format=pandas-split", json.dumps(split)
    key = "dataframe_records" if kind == "records" else "dataframe_split"
    return "application/json", json.dumps({key: data if kind == "records" else split})
