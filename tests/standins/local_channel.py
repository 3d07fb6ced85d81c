"""A local conda channel built from scratch: tiny noarch packages, indexed with py-rattler.

No conda channel is reachable from these machines, so tests make their own: each package is a
real .tar.bz2 conda archive (info/index.json, info/paths.json, one file) and the channel is
indexed by py-rattler into a real repodata.json.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import tarfile
import time
from pathlib import Path

import rattler.index


def _add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mtime = 1_700_000_000
    tar.addfile(info, io.BytesIO(data))


def build_package(channel: Path, name: str, version: str, depends: list[str] = ()) -> Path:
    """A noarch package that installs share/<name>/VERSION containing its version."""
    payload_path = f"share/{name}/VERSION"
    payload = f"{version}\n".encode()
    index = {
        "name": name, "version": version, "build": "0", "build_number": 0, "depends": list(depends),
        "subdir": "noarch", "noarch": "generic", "license": "MIT", "timestamp": int(time.time() * 1000),
    }  # fmt: skip
    paths = {
        "paths_version": 1,
        "paths": [{"_path": payload_path, "path_type": "hardlink",
                   "sha256": hashlib.sha256(payload).hexdigest(), "size_in_bytes": len(payload)}],
    }  # fmt: skip
    target = channel / "noarch" / f"{name}-{version}-0.tar.bz2"
    target.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(target, "w:bz2") as tar:
        _add(tar, "info/index.json", json.dumps(index).encode())
        _add(tar, "info/paths.json", json.dumps(paths).encode())
        _add(tar, "info/files", f"{payload_path}\n".encode())
        _add(tar, payload_path, payload)
    return target


def make_channel(root: Path, packages: list[tuple[str, str, list[str]]]) -> Path:
    for name, version, depends in packages:
        build_package(root, name, version, depends)
    (root / "linux-64").mkdir(exist_ok=True)
    asyncio.run(rattler.index.index_fs(root, force=True))
    if not (root / "linux-64" / "repodata.json").exists():  # an empty platform subdir is still required
        (root / "linux-64" / "repodata.json").write_text(json.dumps({"info": {"subdir": "linux-64"}, "packages": {}}))
    return root
