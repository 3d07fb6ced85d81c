"""Paths of the pinned tools the validator drives."""

import shutil


def uv_bin() -> str:
    """uv from the tools environment (the `uv` wheel), else from PATH."""
    try:
        from uv import find_uv_bin

        return find_uv_bin()
    except (ImportError, FileNotFoundError):
        found = shutil.which("uv")
        if not found:
            raise FileNotFoundError("uv is not installed: run `make bootstrap`") from None
        return found
