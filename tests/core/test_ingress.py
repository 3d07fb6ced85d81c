"""core/ingress.py, the stand-in for production's load balancer, over real HTTP on 127.0.0.1: what the
server under test sees is production's name as the Host, the method, path and body as the client sent them."""

from __future__ import annotations

import http.client
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests

from rolloutcheck.core.ingress import Ingress


class Echo(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format, *args):  # noqa: A002
        pass

    def _answer(self):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        seen = {"host": self.headers["Host"], "method": self.command, "path": self.path, "body": body.decode()}
        data = json.dumps(seen).encode()
        self.send_response(403 if self.path.startswith("/refuse") else 200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PUT = _answer  # noqa: N815


@pytest.fixture
def upstream():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Echo)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def test_the_server_sees_productions_name_and_the_request_as_sent(upstream):
    ingress = Ingress("mlflow.sbd.internal", upstream)
    try:
        got = requests.post(f"{ingress.url}/api/2.0/mlflow/runs/create?x=1", json={"a": 1}, timeout=10)
        assert got.status_code == 200
        assert got.json() == {"host": "mlflow.sbd.internal", "method": "POST",
                              "path": "/api/2.0/mlflow/runs/create?x=1", "body": '{"a": 1}'}  # fmt: skip
        refused = requests.get(f"{ingress.url}/refuse", timeout=10)
        assert refused.status_code == 403 and refused.json()["host"] == "mlflow.sbd.internal"  # the answer as it was
        # a chunked upload (an artifact of unknown length) arrives whole
        put = requests.put(f"{ingress.url}/artifact", data=iter([b"ab", b"cde"]), timeout=10)
        assert put.json()["body"] == "abcde"
        assert ingress.seen == [("POST", "/api/2.0/mlflow/runs/create?x=1", 200), ("GET", "/refuse", 403),
                                ("PUT", "/artifact", 200)]  # fmt: skip
    finally:
        ingress.stop()
    with pytest.raises(OSError):  # stopped: nothing listens any more
        http.client.HTTPConnection("127.0.0.1", ingress.port, timeout=2).request("GET", "/")


def test_a_server_that_is_gone_is_a_502_naming_it(upstream):
    ingress = Ingress("mlflow.sbd.internal", 1)  # nothing listens on port 1
    try:
        got = requests.get(f"{ingress.url}/api", timeout=10)
        assert got.status_code == 502 and "the server under test did not answer" in got.text
    finally:
        ingress.stop()
