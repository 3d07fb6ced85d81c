"""Percentiles, the regression judgement, and a real bounded load against a local server."""

import math
import os
import sys
import time

import pytest

from rolloutcheck.core import net, procs
from rolloutcheck.drivers import serving
from rolloutcheck.probes import curl, loadtest

PING = (
    "import http.server as h, sys, time\n"
    "class P(h.BaseHTTPRequestHandler):\n"
    "    def log_message(self, *a): pass\n"
    "    def do_POST(self):\n"
    "        self.rfile.read(int(self.headers['Content-Length']))\n"
    "        time.sleep(float(sys.argv[2]))\n"
    "        self.send_response(200); self.send_header('Content-Length', '2'); self.end_headers()\n"
    "        self.wfile.write(b'[]')\n"
    "h.ThreadingHTTPServer(('127.0.0.1', int(sys.argv[1])), P).serve_forever()\n"
)


def test_percentiles_interpolate_between_ranks():
    values = sorted(float(v) for v in range(1, 101))
    assert loadtest.percentile(values, 50) == pytest.approx(50.5)
    assert loadtest.percentile(values, 95) == pytest.approx(95.05)
    assert loadtest.percentile(values, 99) == pytest.approx(99.01)
    assert loadtest.percentile([7.0], 99) == 7.0
    assert math.isnan(loadtest.percentile([], 50))


@pytest.mark.parametrize(
    "before, after, ok",
    [
        (10.0, 14.0, True),  # x1.4: under the ratio
        (2.0, 6.5, True),  # x3.25 but only 4.5 ms slower: noise on a fast model
        (10.0, 16.0, False),  # x1.6 and +6 ms: both limits passed
        (10.0, 30.0, False),
        (100.0, 80.0, True),  # faster
    ],
)
def test_regression_needs_both_ratio_and_milliseconds(before, after, ok):
    def figures(p95):
        return {"p95_ms": p95, "rps": 100.0, "errors": 0, "requests": 200}

    verdict, reason = loadtest.judge(figures(before), figures(after), p95_ratio=1.5, p95_min_ms=5)
    assert verdict is ok, reason
    assert "p95" in reason


def test_errors_fail_the_judgement():
    ok, reason = loadtest.judge({"p95_ms": 1, "rps": 1, "errors": 0, "requests": 9},
                                {"p95_ms": 1, "rps": 1, "errors": 3, "requests": 9}, 1.5, 5)  # fmt: skip
    assert not ok and "3 of 9 requests failed" in reason


def test_load_only_targets_localhost():
    far = curl.Request("POST", "http://10.0.0.1:80/invocations", {}, "{}")
    with pytest.raises(ValueError, match="only targets the local server"):
        loadtest.interleaved({"far": far}, loadtest.Load(requests=1))


def test_interleaved_load_against_two_real_servers_is_bounded(tmp_path):
    marker = procs.new_marker()
    ports, started = [net.free_port(), net.free_port()], []
    try:
        for port, delay in zip(ports, ("0.001", "0.02"), strict=True):
            started.append(procs.start([sys.executable, "-c", PING, str(port), delay], tmp_path / f"{port}.log",
                                       dict(os.environ), tmp_path, marker))  # fmt: skip
        deadline = time.monotonic() + 20
        while not all(serving.port_in_use(p) for p in ports) and time.monotonic() < deadline:
            time.sleep(0.1)
        requests = {name: curl.Request("POST", f"http://127.0.0.1:{port}/invocations", {}, "{}")
                    for name, port in zip(("fast", "slow"), ports, strict=True)}  # fmt: skip
        figures = loadtest.interleaved(requests, loadtest.Load(requests=40, concurrency=4, warmup=2, seconds=30))
        fast, slow = figures["fast"].summary(), figures["slow"].summary()
        assert fast["requests"] == slow["requests"] == 40 and fast["errors"] == slow["errors"] == 0
        assert slow["p50_ms"] > fast["p50_ms"] and slow["p95_ms"] >= 20
        assert not loadtest.judge(fast, slow, 1.5, 5)[0]
        # bounded in time: a tiny time budget stops long before the count
        short = loadtest.interleaved({"slow": requests["slow"]}, loadtest.Load(requests=10_000, seconds=0.5))
        assert short["slow"].count < 10_000

    finally:
        for proc in started:
            procs.stop(proc, marker)


def test_a_slow_server_is_not_loaded_a_whole_round_past_the_time_budget(tmp_path):
    """10,000 requests in rounds of 1,000 at 40 a second would run 25 s past a 1 s budget; the rounds
    shrink to what fits in the time left at the rate the server answers."""
    marker, port = procs.new_marker(), net.free_port()
    server = procs.start([sys.executable, "-c", PING, str(port), "0.1"], tmp_path / "slow.log", dict(os.environ),
                         tmp_path, marker)  # fmt: skip
    try:
        deadline = time.monotonic() + 20
        while not serving.port_in_use(port) and time.monotonic() < deadline:
            time.sleep(0.1)
        request = curl.Request("POST", f"http://127.0.0.1:{port}/invocations", {}, "{}")
        started = time.monotonic()
        found = loadtest.interleaved({"slow": request}, loadtest.Load(requests=10_000, warmup=0, seconds=1.0))
        took = time.monotonic() - started
        assert took < 4.0 and 4 <= found["slow"].count < 200, (took, found["slow"].count)
    finally:
        procs.stop(server, marker)


def test_rounds_fit_the_time_left_at_the_rate_answered():
    answered = loadtest.Figures(latencies_ms=[100.0] * 40, wall=2.0)  # 20 requests a second
    assert loadtest.fits(answered, 0.5, 4) == 10
    assert loadtest.fits(answered, 0.0, 4) == 4  # at least one request per client
    assert loadtest.fits(loadtest.Figures(), 5.0, 4) == 4  # nothing answered yet: one round of the clients
