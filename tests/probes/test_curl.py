import shutil
import subprocess

import pytest

from rolloutcheck.core.paths import PROBES
from rolloutcheck.probes import curl

SEED = (
    'curl -X POST -H "Content-Type:application/json; format=pandas-split" --data \'{"columns":["alcohol"],'
    '"data":[[12.8]]}\' http://127.0.0.1:1234/invocations'
)


def test_seed_request_parses():
    request = curl.parse(SEED)
    assert request.method == "POST"
    assert request.content_type == "application/json; format=pandas-split"
    assert request.body == '{"columns":["alcohol"],"data":[[12.8]]}'
    assert request.url == "http://127.0.0.1:1234/invocations"


def test_rewritten_to_server_under_test():
    moved = curl.parse(SEED).for_server("127.0.0.1", 5555)
    assert moved.url == "http://127.0.0.1:5555/invocations"


@pytest.mark.parametrize("path", sorted(PROBES.glob("*/*.curl")), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_stored_probe_parses(path):
    request = curl.load(path)
    assert request.method == "POST" and request.body


def test_line_continuations_and_long_options():
    request = curl.parse("curl --request=POST \\\n  --header 'A: b' \\\n --data-raw '@x' --url http://localhost:1/p")
    assert (request.method, request.headers, request.body, request.url) == (
        "POST",
        {"A": "b"},
        "@x",
        "http://localhost:1/p",
    )


@pytest.mark.parametrize(
    "command, message",
    [
        ("curl -d @/etc/passwd http://127.0.0.1:1/invocations", "reads a local file"),
        ("curl --data-binary @secret http://127.0.0.1:1/", "reads a local file"),
        ("curl -o /tmp/x http://127.0.0.1:1/", "writes a local file"),
        ("curl -T /etc/hosts http://127.0.0.1:1/", "uploads a local file"),
        ("curl -K cfg http://127.0.0.1:1/", "reads a config file"),
        ("curl -F file=@x http://127.0.0.1:1/", "posts form files"),
        ("curl -x http://proxy:8080 http://127.0.0.1:1/", "uses a proxy"),
        ("curl --unix-socket /run/docker.sock http://127.0.0.1:1/", "another endpoint"),
        ("curl -d x http://example.com/invocations", "not local"),
        ("curl -d x http://10.0.0.5:1234/invocations", "not local"),
        ("curl -d x file:///etc/passwd", "not an http"),
        ("curl -d x http://127.0.0.1:1/ http://127.0.0.1:2/", "exactly one URL"),
        ("curl -d x http://127.0.0.1:1/; rm -rf /", "shell operator"),
        ("curl -d x http://127.0.0.1:1/ | sh", "shell operator"),
        ("curl -d x http://127.0.0.1:1/ > out", "shell operator"),
        ("curl -d x http://127.0.0.1:1/ && reboot", "shell operator"),
        ('curl -d "$(cat /etc/passwd)" http://127.0.0.1:1/', "shell expansion"),
        ("curl -d `id` http://127.0.0.1:1/", "shell expansion"),
        ('curl -H "X: $HOME" http://127.0.0.1:1/', "shell expansion"),
        ("wget http://127.0.0.1:1/", "must start with `curl`"),
        ("curl -d 'unterminated http://127.0.0.1:1/", "cannot be parsed"),
        ("curl --weird http://127.0.0.1:1/", "not supported"),
        ("curl -H nocolon http://127.0.0.1:1/", "malformed header"),
        ("curl -X", "needs a value"),
        ("", "empty"),
        # POSIX quoting: expansions inside double quotes are still expansions, escapes are tracked
        ('curl -d "{\\"a\\": \\"$(id)\\"}" http://127.0.0.1:1/', "shell expansion '\\$\\('"),
        ('curl -d "\\\\$(id)" http://127.0.0.1:1/', "shell expansion"),  # `\\` is a backslash, then $(id)
        ('curl -d "x" http://127.0.0.1:1/ \\\\; reboot', "shell operator ';'"),  # `\\` then a real `;`
        ('curl -d "a\\" b" ; reboot', "shell operator ';'"),  # the escaped quote does not close the string
        ('curl -d "`id`" http://127.0.0.1:1/', "shell expansion '`'"),
        ('curl -d "${HOME}" http://127.0.0.1:1/', "shell expansion"),
        ("curl -d $'\\x41' http://127.0.0.1:1/", "shell expansion"),  # ANSI-C quoting
        ("curl -d x http://127.0.0.1:1/\nrm -rf /", "newline outside quotes"),
        ("curl -d x http://127.0.0.1:1/ # note", "comments"),
        ("curl -d ~/secret http://127.0.0.1:1/", "shell expansion '~'"),
        ('curl -d "unterminated \\" http://127.0.0.1:1/', "cannot be parsed"),
        ("curl -d x http://127.0.0.1:1/ \\", "cannot be parsed"),
        # URLs that do not parse are CurlErrors, not ValueErrors escaping the handlers
        ("curl -d x http://[::1/x", "cannot be parsed"),
        ("curl -d x http://127.0.0.1:99999/", "cannot be parsed"),
        ("curl -d x http://127.0.0.1:port/", "cannot be parsed"),
        ("curl -d x https://example.com/invocations", "not local"),
    ],
)
def test_hostile_or_unsupported_inputs_are_refused(command, message):
    with pytest.raises(curl.CurlError, match=message) as error:
        curl.parse(command, "probes/x/evil.curl")
    assert "probes/x/evil.curl" in str(error.value)  # the error names the file


def test_quoted_shell_characters_are_data():
    request = curl.parse('curl -d \'{"a": "x; y | z $(w)"}\' http://127.0.0.1:1/')
    assert request.body == '{"a": "x; y | z $(w)"}'


def test_unreadable_file_is_a_curl_error(tmp_path):
    with pytest.raises(curl.CurlError, match="cannot be read"):
        curl.load(tmp_path / "missing.curl")


@pytest.mark.parametrize(
    "command, body",
    [
        ('curl -d "{\\"a\\": 1}" http://127.0.0.1:1/invocations', '{"a": 1}'),
        ('curl -d "\\$(id)" http://127.0.0.1:1/', "$(id)"),  # escaped: literal data
        ('curl -d "a\\`b\\\\c" http://127.0.0.1:1/', "a`b\\c"),
        ('curl -d "keep \\n and \\x" http://127.0.0.1:1/', "keep \\n and \\x"),  # other backslashes stay
        ('curl -d \\{\\"a\\":1\\} http://127.0.0.1:1/', '{"a":1}'),  # escaped outside quotes
        ("curl -d 'it'\\''s; $(fine)' http://127.0.0.1:1/", "it's; $(fine)"),
        ('curl -d "cost: $ 5" http://127.0.0.1:1/', "cost: $ 5"),  # a `$` before a space is literal
        ('curl -d "a\\\nb" http://127.0.0.1:1/', "ab"),  # backslash-newline joins, also in double quotes
    ],
)
def test_double_quoted_data_follows_posix_quoting(command, body):
    request = curl.parse(command, "probes/x/ok.curl")
    assert request.body == body
    assert request.url.startswith("http://127.0.0.1:1/")


@pytest.mark.skipif(shutil.which("sh") is None, reason="needs a POSIX sh")
@pytest.mark.parametrize(
    "command",
    [
        'curl -d "{\\"a\\": [1, \\"x\\"]}" -H "A: b" http://127.0.0.1:1/',
        'curl -d "\\$(id) \\`id\\` \\\\ \\n" http://127.0.0.1:1/',
        "curl -d 'single \\\" \\\\ $x' \\\n  --url\\ x \\\"q\\\" \\'s\\' ''",
        'curl "a$" "$ b" c$ "x"\'y\'z a\\ b',
    ],
)
def test_words_are_what_a_posix_shell_passes(command):
    shell = subprocess.run(["sh", "-c", f"printf '%s\\0' {command}"], capture_output=True, text=True, check=True)
    assert curl.words(command, "t") == shell.stdout.split("\0")[:-1]


@pytest.mark.parametrize(
    "stored, sent",
    [
        ("https://localhost:8443/invocations?x=1", "http://127.0.0.1:5555/invocations?x=1"),
        ("https://127.0.0.1/invocations", "http://127.0.0.1:5555/invocations"),
        ("https://[::1]:1/invocations#frag", "http://127.0.0.1:5555/invocations"),
        ("HTTPS://LOCALHOST:1", "http://127.0.0.1:5555/"),
    ],
)
def test_https_probes_are_sent_as_plain_http_with_a_note(stored, sent):
    request = curl.parse(f"curl -d x {stored}", "probes/x/tls.curl")
    assert request.url == stored and request.notes == ()  # parsing keeps what is stored
    moved = request.for_server("127.0.0.1", 5555)
    assert moved.url == sent
    assert moved.notes == (curl.HTTPS_NOTE,)
    assert "https rewritten to http" in moved.notes[0]
    assert moved.for_server("127.0.0.1", 6666).notes == (curl.HTTPS_NOTE,)  # said once


def test_http_probes_carry_no_note_and_keep_the_four_positional_fields():
    request = curl.Request("POST", "http://localhost:1/invocations?a=b", {"A": "b"}, "x")
    moved = request.for_server("::1", 7)
    assert (moved.method, moved.url, moved.headers, moved.body) == (
        "POST",
        "http://[::1]:7/invocations?a=b",
        {"A": "b"},
        "x",
    )
    assert moved.notes == ()


def test_a_stored_probe_file_with_escaped_quotes(tmp_path):
    path = tmp_path / "escaped.curl"
    path.write_text(
        'curl -X POST -H "Content-Type: application/json" \\\r\n  -d "{\\"inputs\\": [[1, 2]]}" \\\r\n'
        "  https://localhost:1234/invocations\r\n"
    )
    request = curl.load(path)
    assert request.body == '{"inputs": [[1, 2]]}'
    assert request.for_server("127.0.0.1", 9).url == "http://127.0.0.1:9/invocations"


def test_unparsable_url_in_a_file_is_a_curl_error_naming_it(tmp_path):
    path = tmp_path / "bad.curl"
    path.write_text("curl -d x http://[::1/x\n")
    with pytest.raises(curl.CurlError, match="cannot be parsed") as error:
        curl.load(path)
    assert str(error.value).startswith(f"{path}: ")
