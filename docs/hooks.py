"""MkDocs hook: the reference parts a page asks for (`<!-- reference:NAME -->`) made from the code's
declarations by rolloutcheck.reports.reference, so the documentation cannot drift from what runs."""

from __future__ import annotations

import functools
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))

from rolloutcheck.reports import reference  # noqa: E402 - after the path that holds it


@functools.cache
def _nox_listing() -> str:
    """`nox -l` of this repository, in the tool's own environment (the one building the docs)."""
    argv = [sys.executable, "-m", "nox", "--script-mode", "none", "-f", str(ROOT / "noxfile.py"), "-l"]
    return subprocess.run(argv, capture_output=True, text=True, check=True, cwd=ROOT).stdout


def on_page_markdown(markdown: str, **_) -> str:
    return reference.fill(markdown, reference.pages(_nox_listing))
