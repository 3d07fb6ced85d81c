"""A local stand-in for the load balancer in front of production's tracking server.

Production's clients reach their tracking server by a name (`http://mlflow.sbd.internal`), and the server
sees that name in the Host header; servers that check it (mlflow 3.5+) refuse names they were not told
about. The check cannot make that name resolve on this machine without touching the system, so its
clients talk to this ingress on 127.0.0.1, which forwards every request to the one server under test with
production's name as the Host header, as a load balancer that keeps the Host does. It only ever forwards
to 127.0.0.1 (the server it was given), and stops with the cell.
"""

from __future__ import annotations

import http.client
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from rolloutcheck.core import net

HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "proxy-connection"}
TIMEOUT = 120.0  # one request's bound: artifact uploads of the check are small


class Ingress:
    """`http://127.0.0.1:<port>` forwarding to `127.0.0.1:<upstream>` as `host`; stop() ends it."""

    def __init__(self, host: str, upstream: int):
        self.host, self.upstream = host, upstream
        self.seen: list[tuple[str, str, int]] = []  # (method, path, status) of every request forwarded
        self._server = ThreadingHTTPServer((net.HOST, 0), self._handler())
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, name=f"ingress-{host}", daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://{net.HOST}:{self.port}"

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        ingress = self

        class Forward(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the base class's name
                pass  # the requests are kept in `seen`; the cell's logs are the clients' and the server's

            def _body(self) -> bytes:
                if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                    chunks = []
                    while size := int(self.rfile.readline().split(b";")[0].strip() or b"0", 16):
                        chunks.append(self.rfile.read(size))
                        self.rfile.readline()
                    self.rfile.readline()  # the empty trailer
                    return b"".join(chunks)
                return self.rfile.read(int(self.headers.get("Content-Length") or 0))

            def _forward(self) -> None:
                body = self._body()
                headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP | {"host"}}
                headers["Host"] = ingress.host
                if body or self.command in ("POST", "PUT", "PATCH"):
                    headers["Content-Length"] = str(len(body))
                upstream = http.client.HTTPConnection(net.HOST, ingress.upstream, timeout=TIMEOUT)
                try:
                    upstream.request(self.command, self.path, body=body or None, headers=headers)
                    answer = upstream.getresponse()
                    data = answer.read()
                    status, reply_headers = answer.status, answer.getheaders()
                except OSError as error:
                    status, reply_headers = 502, [("Content-Type", "text/plain")]
                    data = f"ingress: the server under test did not answer: {error}".encode()
                finally:
                    upstream.close()
                ingress.seen.append((self.command, self.path, status))
                self.send_response(status)
                for key, value in reply_headers:
                    if key.lower() not in HOP_BY_HOP | {"content-length"}:
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _forward  # noqa: N815 - http.server's names

        return Forward
