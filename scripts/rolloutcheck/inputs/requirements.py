"""Reading a requirement string: where it installs from, and the mlflow version it pins."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote, urlsplit

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import InvalidSdistFilename, InvalidWheelFilename, parse_sdist_filename, parse_wheel_filename
from packaging.version import InvalidVersion, Version

ARCHIVE_SUFFIXES = (".whl", ".tar.gz", ".zip")  # what pip installs from a path


def is_url(text: str) -> bool:
    return len(urlsplit(text).scheme) > 1  # `https://…`, `file:///…`; not a path (nor `C:\\…`)


def location_of(requirement: str) -> str | None:
    """Where a requirement installs from when that is a URL or a path (`name @ URL`, a bare URL,
    a bare archive path); None for a plain `name[extras] specifier` requirement."""
    text = requirement.strip()
    try:
        parsed = Requirement(text)
    except InvalidRequirement:
        parsed = None
    if parsed is not None and parsed.url:
        return parsed.url
    if text.lower().endswith(ARCHIVE_SUFFIXES):  # a path (`mlflow-1.2.0-py3-none-any.whl` parses as a name too)
        return text
    return text if parsed is None and is_url(text) else None


def _archive_name(location: str) -> str:
    """The file name at the end of a path or URL; a URL's is unquoted (`%2B` is `+`)."""
    if is_url(location):
        return unquote(urlsplit(location).path.rsplit("/", 1)[-1])
    return Path(location).name


def mlflow_version_of(requirement: str) -> Version | None:
    """The version a label's mlflow requirement pins, when it can be read off it: the `==` pin of
    a plain requirement, or the version in the wheel or sdist file name of a path or URL."""
    location = location_of(requirement)
    if location is not None:
        name = _archive_name(location)
        try:
            if name.endswith(".whl"):
                return parse_wheel_filename(name)[1]
            if name.endswith((".tar.gz", ".zip")):
                return parse_sdist_filename(name)[1]
        except (InvalidWheelFilename, InvalidSdistFilename, InvalidVersion):
            return None
        return None
    try:
        spec = Requirement(requirement).specifier
    except InvalidRequirement:
        return None
    pins = [s.version for s in spec if s.operator in ("==", "===")]
    try:
        return Version(pins[0]) if pins else None
    except InvalidVersion:
        return None
