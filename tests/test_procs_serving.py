"""Process-tree cleanup and server start-up failures, with real processes and sockets."""

import os
import socket
import sys
import time

import psutil
import pytest

from rolloutcheck import procs, serving

# A parent that starts a child in a session of its own (as h2o's server does with its JVM).
DETACHING = """
import subprocess, sys, time
subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"], start_new_session=True)
time.sleep(300)
"""


def test_stop_reaches_children_in_other_sessions(tmp_path):
    marker = procs.new_marker()
    proc = procs.start([sys.executable, "-c", DETACHING], tmp_path / "log", dict(os.environ), tmp_path, marker)
    deadline = time.monotonic() + 20
    while len(procs.marked(marker)) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    tree = procs.marked(marker)
    assert len(tree) == 2
    assert procs.stop(proc, marker) == 2
    assert not procs.marked(marker)
    assert not any(p.is_running() and p.status() != psutil.STATUS_ZOMBIE for p in tree)


def test_stop_finds_orphans_by_marker(tmp_path):
    """The parent is gone (its child re-parented to init): the marker still finds the child."""
    marker = procs.new_marker()
    script = "import subprocess, sys; subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(300)'])"
    proc = procs.start([sys.executable, "-c", script], tmp_path / "log", dict(os.environ), tmp_path, marker)
    proc.wait(timeout=20)
    assert len(procs.marked(marker)) == 1
    procs.stop(None, marker)
    assert not procs.marked(marker)


def http_server(port: int):
    return [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"]


def test_port_taken_is_reported(tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(serving.PortTaken, match=f"port {port} is taken"):
            serving.Server(http_server, dict(os.environ), tmp_path, tmp_path / "log", procs.new_marker(), port)


def test_server_that_never_answers_ping(tmp_path):
    """http.server answers /ping with 404: never healthy, and stopped afterwards."""
    marker = procs.new_marker()
    server = serving.Server(http_server, dict(os.environ), tmp_path, tmp_path / "log", marker)
    try:
        with pytest.raises(serving.ServeError, match="never healthy: no 200 from /ping within 3s"):
            server.wait_healthy(timeout=3)
    finally:
        server.stop()
    assert not procs.marked(marker)


def test_server_that_exits_reports_its_last_error(tmp_path):
    def crashing(port):
        return [sys.executable, "-c", "raise SystemExit('ValueError: no model at runs:/x/model')"]

    server = serving.Server(crashing, dict(os.environ), tmp_path, tmp_path / "log", procs.new_marker())
    with pytest.raises(serving.ServeError, match=r"exited with code 1: .*no model at runs:/x/model"):
        server.wait_healthy(timeout=30)
    server.stop()


def test_a_ping_answered_by_someone_else_is_not_healthy(tmp_path):
    """A server of another cell answering on our port must not pass for ours."""
    other_marker = procs.new_marker()
    port = serving.free_port()
    ping_ok = (
        "import http.server as h\n"
        "class P(h.BaseHTTPRequestHandler):\n"
        "    def do_GET(self):\n"
        "        self.send_response(200); self.end_headers()\n"
        f"h.HTTPServer(('127.0.0.1', {port}), P).serve_forever()\n"
    )
    other = procs.start(
        [sys.executable, "-c", ping_ok], tmp_path / "other.log", dict(os.environ), tmp_path, other_marker
    )
    try:
        deadline = time.monotonic() + 20
        while not serving.port_in_use(port) and time.monotonic() < deadline:
            time.sleep(0.1)

        def slow_to_bind(_port):
            return [sys.executable, "-c", "import time; time.sleep(60)"]

        marker = procs.new_marker()
        ours = serving.Server(slow_to_bind, dict(os.environ), tmp_path, tmp_path / "log", marker, port=None)
        ours.port = port  # as if the other server had bound our port right after we chose it
        with pytest.raises(serving.PortTaken, match="not from this cell's server"):
            ours.wait_healthy(timeout=10)
        ours.stop()
    finally:
        procs.stop(other, other_marker)
