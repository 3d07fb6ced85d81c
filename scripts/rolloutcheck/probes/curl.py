"""Parse stored curl commands into requests, without a shell, and only for the server under test.

Only what a scoring request needs is understood: method, headers, an inline body, the URL.
Words are split with POSIX shell quoting (so `-d "{\\"a\\": 1}"` means what a shell makes of it).
Anything that would read or write local files, reach another host, or needs a shell to mean
what it says (operators, substitutions, variables) is refused with a CurlError naming the file.
Requests go to the server under test over plain http; a stored https URL is rewritten, and
`Request.notes` of the rewritten request says so.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from rolloutcheck.core.errors import Failure

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


class CurlError(Failure, ValueError):
    def __init__(self, source: str, message: str):
        super().__init__(f"{source}: {message}")
        self.source = source


HTTPS_NOTE = "https rewritten to http: the server under test speaks plain HTTP"


@dataclass(frozen=True)
class Request:
    method: str
    url: str
    headers: dict[str, str]
    body: str | None
    notes: tuple[str, ...] = ()  # what for_server changed beyond host and port, for the caller to record

    @property
    def content_type(self) -> str:
        return next((v for k, v in self.headers.items() if k.lower() == "content-type"), "")

    def for_server(self, host: str, port: int) -> Request:
        """The same request, addressed to the local server under test: always `http://host:port/<path>?<query>`.

        A stored https URL is sent as plain http (the server under test has no TLS); `notes` then says so.
        """
        parts = urlsplit(self.url)
        netloc = f"[{host}]:{port}" if ":" in host and not host.startswith("[") else f"{host}:{port}"  # IPv6
        url = urlunsplit(("http", netloc, parts.path or "/", parts.query, ""))
        notes = self.notes + ((HTTPS_NOTE,) if parts.scheme.lower() == "https" and HTTPS_NOTE not in self.notes else ())
        return Request(self.method, url, self.headers, self.body, notes)


_OPERATORS = set(";|&<>(){}")
_DOUBLE_QUOTE_ESCAPES = set('"\\$`')  # what a backslash escapes inside double quotes (POSIX)


def _expansion(text: str, index: int, quoted: bool) -> str | None:
    """The shell expansion starting at text[index], if any (a `$` followed by a space or the end is literal)."""
    char = text[index]
    if char == "`":
        return "`"
    if char != "$":
        return None
    following = text[index + 1 : index + 2]
    if following == "" or following.isspace() or (quoted and following == '"'):
        return None
    return text[index : index + 2]  # $name, ${...}, $(...), $((...)), $1, $?, and unquoted $'...' / $"..."


def words(text: str, source: str = "<curl>") -> list[str]:
    """Split one command into words the way a POSIX shell quotes, refusing what only a shell gives meaning to.

    Backslash escapes the next character outside quotes; nothing is special inside single quotes; inside
    double quotes a backslash escapes only `"`, `\\`, `$` and a backquote. Backslash-newline joins lines.
    Unquoted operators, a newline (a second command), `#` comments, `~` and any `$`/backquote expansion
    outside single quotes are refused with a CurlError.
    """
    found: list[str] = []
    word: list[str] | None = None  # None: between words
    quote = None
    index = 0
    while index < len(text):
        char = text[index]
        if quote == "'":
            if char == "'":
                quote = None
            else:
                word.append(char)
            index += 1
            continue
        if char == "\\":
            following = text[index + 1 : index + 2]
            if following == "":
                raise CurlError(source, "cannot be parsed: ends with a lone backslash")
            if following == "\n":  # a line continuation: removed
                index += 2
                continue
            if quote == '"' and following not in _DOUBLE_QUOTE_ESCAPES:
                word.append(char)  # a literal backslash; the next character is read normally
                index += 1
                continue
            word = word if word is not None else []
            word.append(following)
            index += 2
            continue
        expansion = _expansion(text, index, quoted=quote == '"')
        if expansion:
            raise CurlError(source, f"shell expansion {expansion!r} is not supported")
        if quote == '"':
            if char == '"':
                quote = None
            else:
                word.append(char)
        elif char in "'\"":
            quote = char
            word = word if word is not None else []
        elif char == "\n":
            raise CurlError(source, "a newline outside quotes starts another command: store one curl command")
        elif char.isspace():
            if word is not None:
                found.append("".join(word))
                word = None
        elif char in _OPERATORS:
            raise CurlError(source, f"shell operator {char!r} is not allowed: store one curl command")
        elif word is None and char == "#":
            raise CurlError(source, "shell comments (`#` starting a word) are not supported")
        elif word is None and char == "~":
            raise CurlError(source, "shell expansion '~' is not supported")
        else:
            word = word if word is not None else []
            word.append(char)
        index += 1
    if quote:
        raise CurlError(source, f"cannot be parsed: no closing quotation ({quote})")
    if word is not None:
        found.append("".join(word))
    return found


def _url(url: str, source: str) -> None:
    """Refuse a URL that is not http(s) to a local host; any parse problem is a CurlError."""
    try:
        parts = urlsplit(url)
        host, _ = parts.hostname, parts.port  # both raise ValueError on a malformed netloc or port
    except ValueError as error:
        raise CurlError(source, f"URL {url!r} cannot be parsed: {error}") from None
    if parts.scheme not in ("http", "https") or not host:
        raise CurlError(source, f"URL {url!r} is not an http(s) URL")
    if host not in LOCAL_HOSTS:
        raise CurlError(source, f"URL host {host!r} is not local: probes only target the server under test")


def parse(text: str, source: str = "<curl>") -> Request:
    """Turn one stored curl command into a Request; CurlError says what is wrong."""
    text = text.replace("\r\n", "\n").strip()
    if not text:
        raise CurlError(source, "empty file")
    args_list = words(text, source)
    if not args_list or args_list[0] != "curl":
        raise CurlError(source, "must start with `curl`")
    method, headers, body, urls = None, {}, None, []
    args = iter(args_list[1:])
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
    _url(urls[0], source)
    return Request(method or ("POST" if body is not None else "GET"), urls[0], headers, body)


def load(path: Path) -> Request:
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as error:
        raise CurlError(str(path), f"cannot be read: {error}") from None
    return parse(text, str(path))
