"""Request migration: the mlflow 2+ form of a stored 1.x scoring request.

mlflow 2.0 dropped input formats chosen by Content-Type (`format=pandas-split`,
`format=pandas-records`) and made JSON bodies name their orientation:
- `format=pandas-split`, or plain JSON `{"columns", "data"}` (1.x's default) -> `{"dataframe_split": body}`
- `format=pandas-records`, or a bare list of records                       -> `{"dataframe_records": body}`
- `text/csv`, and bodies that already name `dataframe_split`, `dataframe_records`, `instances` or
  `inputs`, need no change. Anything else is a MigrationError naming the file.
"""

from __future__ import annotations

import json
import shlex
from pathlib import Path

from rolloutcheck.core.errors import Failure
from rolloutcheck.probes import curl

V2_KEYS = ("dataframe_split", "dataframe_records", "instances", "inputs")


class MigrationError(Failure, ValueError):
    pass


def _format(content_type: str) -> tuple[str, str | None]:
    """(media type, the `format=` parameter) of a Content-Type header."""
    media, *params = [part.strip() for part in content_type.split(";")]
    fmt = next((p.split("=", 1)[1].strip() for p in params if p.lower().startswith("format=")), None)
    return media.lower(), fmt


def to_v2(request: curl.Request, source: str = "<request>") -> curl.Request | None:
    """The 2.x form of `request`, or None when it needs no change."""
    media, fmt = _format(request.content_type)
    if media == "text/csv" and fmt is None:
        return None
    if media not in ("application/json", ""):
        raise MigrationError(f"{source}: content type {request.content_type!r} has no 2.x equivalent here")
    try:
        body = json.loads(request.body or "")
    except ValueError:
        raise MigrationError(f"{source}: the body is not JSON") from None
    if fmt is None and isinstance(body, dict) and any(k in body for k in V2_KEYS):
        return None  # already the 2.x protocol
    if fmt in (None, "pandas-split") and isinstance(body, dict) and {"columns", "data"} <= set(body):
        wrapped = {"dataframe_split": body}
    elif fmt in (None, "pandas-records") and isinstance(body, list) and all(isinstance(r, dict) for r in body):
        wrapped = {"dataframe_records": body}
    else:
        raise MigrationError(f"{source}: a {fmt or 'plain JSON'} body of this shape has no 2.x mapping")
    headers = {k: v for k, v in request.headers.items() if k.lower() != "content-type"}
    headers["Content-Type"] = "application/json"
    return curl.Request(request.method, request.url, headers, json.dumps(wrapped, separators=(", ", ": ")))


def as_curl(request: curl.Request) -> str:
    """A curl command for `request` that the probe parser reads back to the same request."""
    words = ["curl", "-X", request.method]
    for name, value in request.headers.items():
        words += ["-H", f"{name}: {value}"]
    if request.body is not None:
        words += ["--data", request.body]
    return shlex.join([*words, request.url]) + "\n"


def target_for(path: Path, to: int) -> Path:
    """`probes/<usecase>/migrated-v2/<name>.curl`: beside the stored request, not itself a probe (probes
    are the `*.curl` directly in the use case's folder) until someone moves it up with an expectation."""
    return path.parent / f"migrated-v{to}" / path.name


def migrate_file(path: Path, to: int = 2) -> Path | None:
    """Write the `to`.x form of a stored request next to it (never overwriting); None if unchanged."""
    if to != 2:
        raise MigrationError(f"{path}: only --to 2 is known (the 2.0 scoring protocol change)")
    migrated = to_v2(curl.load(path), str(path))
    if migrated is None:
        return None
    target = target_for(path, to)
    if target.exists():
        raise MigrationError(f"{target}: exists; not overwritten (remove it to write it again)")
    target.parent.mkdir(exist_ok=True)
    target.write_text(as_curl(migrated))
    return target
