"""Small real wheels for tests of local-file requirements."""

from __future__ import annotations

import zipfile
from pathlib import Path


def make_wheel(path: Path, build: str) -> Path:
    """A real, installable pure-Python wheel named like `path` (no dependencies); `build` varies its bytes."""
    name, version = path.name.split("-")[:2]
    info = f"{name}-{version}.dist-info"
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w") as wheel:
        wheel.writestr(f"{name}/__init__.py", f"BUILD = {build!r}\n")
        wheel.writestr(f"{info}/METADATA", f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
        wheel.writestr(
            f"{info}/WHEEL", "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
        )
        wheel.writestr(f"{info}/RECORD", "")
    return path
