"""Parse stored curl commands into requests, without a shell, and only for the server under test.

Only what a scoring request needs is understood: method, headers, an inline body, the URL.
Anything that would read or write local files, reach another host, or needs a shell to mean
what it says (operators, substitutions, variables) is refused with a CurlError naming the file.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1", "[::1]"}
_METHOD = {"-X", "--request"}
_HEADER = {"-H", "--header"}
_DATA = {"-d", "--data", "--data-ascii", "--data-binary", "--data-raw"}
_URL = {"--url"}
_HARMLESS = {"-s", "--silent", "-S", "--show-error", "-v", "--verbose", "-i", "--include",
             "-f", "--fail", "--compressed", "-g", "--globoff"}  # fmt: skip
# Options refused by name, with why (the rest unknown options are refused too).
_REFUSED = {
    "-o": "writes a local file", "--output": "writes a local file", "-O": "writes a local file",
    "--remote-name": "writes a local file", "-T": "uploads a local file",
    "--upload-file": "uploads a local file", "-K": "reads a config file", "--config": "reads a config file",
    "-F": "posts form files", "--form": "posts form files", "-x": "uses a proxy", "--proxy": "uses a proxy",
    "--unix-socket": "reaches another endpoint", "--connect-to": "reaches another host",
    "--resolve": "reaches another host", "-b": "reads cookies", "--cookie": "reads cookies",
    "-c": "writes cookies", "--cookie-jar": "writes cookies", "-D": "writes a local file",
    "--dump-header": "writes a local file", "--trace": "writes a local file", "-e": "sends a referer file",
}  # fmt: skip


class CurlError(ValueError):
    def __init__(self, source: str, message: str):
        super().__init__(f"{source}: {message}")
        self.source = source


@dataclass(frozen=True)
class Request:
    method: str
    url: str
    headers: dict[str, str]
    body: str | None

    @property
    def content_type(self) -> str:
        return next((v for k, v in self.headers.items() if k.lower() == "content-type"), "")

    def for_server(self, host: str, port: int) -> Request:
        """The same request, addressed to the local server under test."""
        parts = urlsplit(self.url)
        return Request(self.method, urlunsplit(parts._replace(netloc=f"{host}:{port}")), self.headers, self.body)


def _check_shell_free(text: str, source: str) -> None:
    """Refuse what only a shell could give meaning to: operators, substitutions, variables."""
    quote = None
    for index, char in enumerate(text):
        if quote == "'":
            quote = None if char == "'" else quote
            continue
        if char in "'\"" and (quote is None or quote == char):
            quote = None if quote else char
        elif char == "`" or (char == "$" and index + 1 < len(text) and text[index + 1] not in " \"'"):
            raise CurlError(source, f"shell expansion {text[index : index + 2]!r} is not supported")
        elif quote is None and char in ";|&<>(){}" and not text[index - 1 : index] == "\\":
            raise CurlError(source, f"shell operator {char!r} is not allowed: store one curl command")


def parse(text: str, source: str = "<curl>") -> Request:
    """Turn one stored curl command into a Request; CurlError says what is wrong."""
    text = text.replace("\\\r\n", " ").replace("\\\n", " ").strip()
    if not text:
        raise CurlError(source, "empty file")
    _check_shell_free(text, source)
    try:
        words = shlex.split(text, comments=False, posix=True)
    except ValueError as error:
        raise CurlError(source, f"cannot be parsed: {error}") from None
    if not words or words[0] != "curl":
        raise CurlError(source, "must start with `curl`")
    method, headers, body, urls = None, {}, None, []
    args = iter(words[1:])
    for word in args:
        option, inline = (word.split("=", 1) + [None])[:2] if word.startswith("--") else (word, None)
        if option in _HARMLESS:
            continue
        if option in _REFUSED:
            raise CurlError(source, f"option {option} is refused: it {_REFUSED[option]}")
        if option in _METHOD | _HEADER | _DATA | _URL:
            value = inline if inline is not None else next(args, None)
            if value is None:
                raise CurlError(source, f"option {option} needs a value")
            if option in _METHOD:
                method = value.upper()
            elif option in _HEADER:
                name, sep, content = value.partition(":")
                if not sep or not name.strip():
                    raise CurlError(source, f"malformed header {value!r}")
                headers[name.strip()] = content.strip()
            elif option in _DATA:
                if value.startswith("@") and option != "--data-raw":
                    raise CurlError(source, f"option {option} @file reads a local file")
                body = value if body is None else f"{body}&{value}"
            else:
                urls.append(value)
        elif word.startswith("-") and len(word) > 1:
            raise CurlError(source, f"option {word} is not supported")
        else:
            urls.append(word)
    if len(urls) != 1:
        raise CurlError(source, f"expected exactly one URL, found {len(urls)}")
    parts = urlsplit(urls[0])
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise CurlError(source, f"URL {urls[0]!r} is not an http(s) URL")
    if parts.hostname not in LOCAL_HOSTS:
        raise CurlError(source, f"URL host {parts.hostname!r} is not local: probes only target the server under test")
    return Request(method or ("POST" if body is not None else "GET"), urls[0], headers, body)


def load(path: Path) -> Request:
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as error:
        raise CurlError(str(path), f"cannot be read: {error}") from None
    return parse(text, str(path))
