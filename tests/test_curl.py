import pytest

from rolloutcheck import curl
from rolloutcheck.paths import PROBES

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
