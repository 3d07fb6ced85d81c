"""Process-tree cleanup and server start-up failures, with real processes and sockets."""

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from rolloutcheck.core import net, procs
from rolloutcheck.core.procs import Launch
from rolloutcheck.drivers import serving

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


# A wrapper that relays its child's output, as mlflow's CLI relays its server's: the child says it is
# stopping on SIGTERM, which reaches the wrapper's log only while the wrapper still reads.
CHILD = """
import signal, sys, time
signal.signal(signal.SIGTERM, lambda *_: (print("child stopping", flush=True), sys.exit(0)))
print("child up", flush=True)
time.sleep(300)
"""
WRAPPER = """
import subprocess, sys
child = subprocess.Popen([sys.executable, "-c", sys.argv[2]], stdout=subprocess.PIPE, text=True)
with open(sys.argv[1], "a") as log:
    for line in child.stdout:
        log.write(line); log.flush()
"""


def started_tree(tmp_path: Path, command: list[str]) -> tuple[subprocess.Popen, str]:
    marker = procs.new_marker()
    proc = procs.start(command, tmp_path / "log", dict(os.environ), tmp_path, marker)
    deadline = time.monotonic() + 20
    while len(procs.marked(marker)) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    return proc, marker


def test_the_process_a_cell_started_is_stopped_after_the_tree_under_it(tmp_path):
    log = tmp_path / "relayed.log"
    proc, marker = started_tree(tmp_path, [sys.executable, "-c", WRAPPER, str(log), CHILD])
    deadline = time.monotonic() + 20
    while "child up" not in (log.read_text() if log.exists() else "") and time.monotonic() < deadline:
        time.sleep(0.1)
    assert procs.stop(proc, marker) == 2
    assert log.read_text().splitlines() == ["child up", "child stopping"]  # the wrapper still relayed it
    assert not procs.marked(marker)


IGNORING = (
    "import signal, subprocess, sys, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
    "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(300)']); time.sleep(300)"
)


def test_a_tree_whose_top_ignores_sigterm_is_still_stopped(tmp_path):
    proc, marker = started_tree(tmp_path, [sys.executable, "-c", IGNORING])
    tree = procs.marked(marker)
    assert len(tree) == 2
    assert procs.stop(proc, marker, grace=2.0) == 2  # the top is killed at 2 s
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
            serving.Server(http_server, Launch(dict(os.environ), tmp_path, tmp_path / "log", procs.new_marker()), port)


def test_server_that_never_answers_ping(tmp_path):
    """http.server answers /ping with 404: never healthy, and stopped afterwards."""
    marker = procs.new_marker()
    server = serving.Server(http_server, Launch(dict(os.environ), tmp_path, tmp_path / "log", marker))
    try:
        with pytest.raises(serving.ServeError, match="never healthy: no 200 from /ping within 3s"):
            server.wait_healthy(timeout=3)
    finally:
        server.stop()
    assert not procs.marked(marker)


def test_server_that_exits_reports_its_last_error(tmp_path):
    def crashing(port):
        return [sys.executable, "-c", "raise SystemExit('ValueError: no model at runs:/x/model')"]

    server = serving.Server(crashing, Launch(dict(os.environ), tmp_path, tmp_path / "log", procs.new_marker()))
    with pytest.raises(serving.ServeError, match=r"exited with code 1: .*no model at runs:/x/model"):
        server.wait_healthy(timeout=30)
    server.stop()


def test_a_ping_answered_by_someone_else_is_not_healthy(tmp_path):
    """A server of another cell answering on our port must not pass for ours."""
    other_marker = procs.new_marker()
    port = net.free_port()
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
        ours = serving.Server(slow_to_bind, Launch(dict(os.environ), tmp_path, tmp_path / "log", marker), port=None)
        ours.port = port  # as if the other server had bound our port right after we chose it
        with pytest.raises(serving.PortTaken, match="not from this cell's server"):
            ours.wait_healthy(timeout=10)
        ours.stop()
    finally:
        procs.stop(other, other_marker)


PING_SERVER = (
    "import http.server as h, sys\n"
    "class P(h.BaseHTTPRequestHandler):\n"
    "    def do_GET(self):\n"
    "        self.send_response(200); self.end_headers()\n"
    "h.HTTPServer(('127.0.0.1', int(sys.argv[1])), P).serve_forever()\n"
)


def test_port_retry_stops_only_its_own_attempt(tmp_path):
    """The retry after a lost port race must not kill the cell's tracking check (same marker)."""
    marker = procs.new_marker()
    check = procs.start([sys.executable, "-c", "import time; time.sleep(300)"], tmp_path / "check.log",
                        dict(os.environ), tmp_path, marker, role="tracking")  # fmt: skip
    attempts = []

    def command(port):
        attempts.append(port)
        if len(attempts) == 1:  # as if another cell bound the port first
            return [sys.executable, "-c", "raise SystemExit('OSError: [Errno 98] Address already in use')"]
        return [sys.executable, "-c", PING_SERVER, str(port)]

    server = serving.start_healthy(command, Launch(dict(os.environ), tmp_path, tmp_path / "serve.log", marker, "serve"),
                                   timeout=30)  # fmt: skip
    try:
        assert len(attempts) == 2 and server.launch.role == "serve-2"
        assert check.poll() is None, "the retry killed the tracking check"
        assert procs.marked(marker, "tracking")
    finally:
        server.stop()
        procs.stop(check, marker)
    assert not procs.marked(marker)


def test_local_requests_ignore_proxies_and_refuse_foreign_redirects(tmp_path, monkeypatch):
    """HTTP_PROXY at a dead port must not matter; a redirect off the server is refused."""
    from rolloutcheck.probes import localhttp

    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:9")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    port = net.free_port()
    redirecting = (
        "import http.server as h, sys\n"
        "class P(h.BaseHTTPRequestHandler):\n"
        "    def do_GET(self):\n"
        "        if self.path == '/away':\n"
        "            self.send_response(302); self.send_header('Location', 'http://example.com/')\n"
        "            self.end_headers()\n"
        "        elif self.path == '/here':\n"
        "            self.send_response(302); self.send_header('Location', '/ping'); self.end_headers()\n"
        "        else:\n"
        "            self.send_response(200); self.end_headers(); self.wfile.write(b'ok')\n"
        "h.HTTPServer(('127.0.0.1', int(sys.argv[1])), P).serve_forever()\n"
    )
    marker = procs.new_marker()
    proc = procs.start([sys.executable, "-c", redirecting, str(port)], tmp_path / "log", dict(os.environ), tmp_path,
                       marker)  # fmt: skip
    try:
        deadline = time.monotonic() + 20
        while not serving.port_in_use(port) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert localhttp.request("GET", f"http://127.0.0.1:{port}/ping", timeout=5).text == "ok"
        assert localhttp.request("GET", f"http://127.0.0.1:{port}/here", timeout=5).text == "ok"
        with pytest.raises(localhttp.NotLocal, match="refused"):
            localhttp.request("GET", f"http://127.0.0.1:{port}/away", timeout=5)
    finally:
        procs.stop(proc, marker)


@pytest.mark.xdist_group("leftovers")  # stopping leftovers stops every one on the machine: one test at a time
def test_leftovers_of_a_killed_owner_are_stopped(tmp_path):
    """A run killed with SIGKILL cannot clean up: its processes carry an owner that is gone."""
    scripts = Path(__file__).resolve().parents[2] / "scripts"
    owner = (
        "import os, sys, time\n"
        "from pathlib import Path\n"
        "from rolloutcheck.core import procs\n"
        f"procs.start([sys.executable, '-c', 'import time; time.sleep(300)'], Path({str(tmp_path)!r}) / 'l',"
        f" dict(os.environ), Path({str(tmp_path)!r}), sys.argv[1])\n"
    )
    marker = procs.new_marker()
    subprocess.run([sys.executable, "-c", owner, marker], env={**os.environ, "PYTHONPATH": str(scripts)},
                   check=True, timeout=60)  # fmt: skip
    assert len(procs.marked(marker)) == 1
    assert any(p.pid == procs.marked(marker)[0].pid for p in procs.leftovers())
    stopped = procs.stop_leftovers()
    assert stopped and not procs.marked(marker)
    # processes of a live owner (this test process) are never leftovers
    mine = procs.start([sys.executable, "-c", "import time; time.sleep(300)"], tmp_path / "m", dict(os.environ),
                       tmp_path, marker)  # fmt: skip
    try:
        assert all(p.pid != mine.pid for p in procs.leftovers())
    finally:
        procs.stop(mine, marker)


def test_interrupts_deferred_during_cleanup():
    """A second Ctrl-C (or SIGTERM, SIGHUP) during cleanup is held until cleanup is done."""
    with procs.interrupts_deferred() as arrived:
        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            os.kill(os.getpid(), signum)
            time.sleep(0.05)
        finished = True
    assert finished and arrived == [signal.SIGINT, signal.SIGTERM, signal.SIGHUP]


def test_sighup_acts_like_ctrl_c():
    with pytest.raises(KeyboardInterrupt, match="SIGHUP"):
        with procs.interrupts_as_keyboard_interrupt():
            os.kill(os.getpid(), signal.SIGHUP)
            time.sleep(1)


def test_the_reason_is_the_cause_not_mlflows_wrapper():
    from rolloutcheck.core.steplog import last_error_line

    log = (
        "[ERROR] Exception in worker process\n"
        "ModuleNotFoundError: No module named 'xgboost'\n"
        "mlflow.utils.process.ShellCommandException: Non-zero exit code: 1\n"
        "Exception: Command 'exec gunicorn ...' returned non zero return code. Return code = 3\n"
    )
    assert last_error_line(log) == "ModuleNotFoundError: No module named 'xgboost'"
    assert last_error_line("Exception: Command 'x' returned non zero return code.\n").startswith("Exception")


# A server whose worker is still busy starting (a 3.x uvicorn worker importing after /ping answers).
BUSY_CHILD = """
import subprocess, sys, time
spin = "import time\\nend = time.monotonic() + 3\\nwhile time.monotonic() < end: pass\\ntime.sleep(300)"
subprocess.Popen([sys.executable, "-c", spin])
time.sleep(300)
"""


@pytest.mark.alone  # CPU thresholds: nothing else of the suite may load the machine meanwhile
def test_busy_cores_sees_a_spinning_worker_and_settle_is_bounded(tmp_path):
    busy = subprocess.Popen([sys.executable, "-c", BUSY_CHILD])
    idle = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"])
    try:
        time.sleep(0.5)  # the child spins for 3 s of wall time from its start
        waited, quiet = procs.settle(20, pids=[busy.pid, idle.pid])
        assert quiet and 1.0 < waited < 10, waited  # waited for the child's start-up work, not for max_wait
        assert procs.settle(20, pids=[idle.pid])[0] < 1.5  # one quiet sample is enough
        assert procs.busy_cores([idle.pid]) < 0.1
        assert procs.busy_cores([999_999_999]) == 0  # a process already gone
        assert procs.settle(1.0)[0] < 2.0  # the whole machine: bounded whatever else runs
        spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
        try:
            time.sleep(0.2)
            assert procs.busy_cores([spinner.pid]) > 0.2  # a busy process is seen (even on a loaded machine)
            assert procs.settle(0, pids=[spinner.pid]) == (pytest.approx(0, abs=0.1), True)  # 0: not waited
        finally:
            spinner.kill()
            spinner.wait()
    finally:
        for proc in (busy, idle):
            for child in psutil.Process(proc.pid).children(recursive=True):
                child.kill()
            proc.kill()
            proc.wait()


@pytest.mark.alone  # CPU thresholds: nothing else of the suite may load the machine meanwhile
def test_others_cpu_counts_other_processes_not_the_cells_own(tmp_path):
    marker = procs.new_marker()
    spin = "import time\nend = time.monotonic() + 8\nwhile time.monotonic() < end: pass\ntime.sleep(30)"
    own = procs.start([sys.executable, "-c", "#own\n" + spin], tmp_path / "own.log", dict(os.environ), tmp_path, marker)
    other = subprocess.Popen([sys.executable, "-c", "#other\n" + spin])
    try:
        deadline = time.monotonic() + 10
        while sum(psutil.Process(other.pid).cpu_times()[:2]) < 0.3 and time.monotonic() < deadline:
            time.sleep(0.1)  # spinning now (a loaded machine starts Python slowly)
        with procs.OthersCpu(marker) as seen:
            time.sleep(1.5)
        # both spin at once; only the one the cell did not start is "other" (whatever else the machine runs)
        assert any("#other" in b for b in seen.busiest) and not any("#own" in b for b in seen.busiest), seen
        assert seen.cores > 0.2
    finally:
        other.kill()
        other.wait()
        procs.stop(own, marker)
