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
    "before, after, slower",
    [
        (10.0, 14.0, False),  # x1.4: under the ratio
        (2.0, 6.5, False),  # x3.25 but only 4.5 ms slower: noise on a fast model
        (10.0, 16.0, True),  # x1.6 and +6 ms: both limits passed
        (10.0, 30.0, True),
        (100.0, 80.0, False),  # faster
    ],
)
def test_regression_needs_both_ratio_and_milliseconds(before, after, slower):
    assert loadtest.Rule(p95_ratio=1.5, p95_min_ms=5).slower(before, after) is slower


def figures(*latencies_ms: float, errors: int = 0) -> loadtest.Figures:
    return loadtest.Figures(latencies_ms=list(latencies_ms), errors=errors, wall=1.0)


def repeats(*p95s: float) -> list[loadtest.Figures]:
    return [figures(*([p95] * 20)) for p95 in p95s]  # 20 equal answers: the repeat's p95 is that value


RULE = loadtest.Rule(1.5, 5)


def test_a_regression_only_when_every_repeat_agrees():
    slower = loadtest.verdict(repeats(10, 10, 10), repeats(30, 32, 29), RULE)
    assert slower["verdict"] == loadtest.REGRESSION and slower["rounds"] == [3.0, 3.2, 2.9]
    assert slower["text"].startswith("regression: p95 10.0 -> ") and "over 3 repeats" in slower["text"]
    equal = loadtest.verdict(repeats(10, 11, 10), repeats(11, 10, 10), RULE)
    assert equal["verdict"] == loadtest.NO_REGRESSION and equal["ratio"] == pytest.approx(1.0)
    straddling = loadtest.verdict(repeats(10, 10, 10), repeats(20, 12, 21), RULE)  # x2, x1.2, x2.1
    assert straddling["verdict"] == loadtest.INCONCLUSIVE and "x1.20-x2.10" in straddling["text"]


def test_failed_requests_are_not_a_measurement():
    found = loadtest.verdict([figures(5, 5)], [figures(5, errors=3)], RULE)
    assert found["verdict"] == loadtest.NOT_MEASURED and "3 of 4 requests to the to server failed" in found["text"]


def test_the_distribution_is_kept_as_every_fifth_percentile():
    kept = loadtest.quantiles(figures(*range(1, 101)))
    assert len(kept) == 21 and kept[0] == 1 and kept[-1] == 100 and kept[10] == pytest.approx(50.5)
    assert loadtest.quantiles(loadtest.Figures()) == []


def test_load_only_targets_localhost():
    far = curl.Request("POST", "http://10.0.0.1:80/invocations", {}, "{}")
    with pytest.raises(ValueError, match="only targets the local server"):
        loadtest.interleaved({"far": far}, loadtest.Load(requests=1))


@pytest.mark.alone  # a verdict over timed repeats: it read inconclusive beside the other worker's cells
def test_interleaved_load_against_two_real_servers_is_bounded(tmp_path):
    marker = procs.new_marker()
    ports, started = [net.free_port()], []
    while len(ports) < 2:  # two distinct ports (a port just freed may be handed out twice)
        ports += [p for p in [net.free_port()] if p not in ports]
    try:
        for port, delay in zip(ports, ("0.001", "0.05"), strict=True):  # 50 ms: slower even on a loaded machine
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
        assert slow["p50_ms"] > fast["p50_ms"] and slow["p95_ms"] >= 50
        assert RULE.slower(fast["p95_ms"], slow["p95_ms"])
        both = loadtest.repeated(requests, loadtest.Load(requests=60, concurrency=4, warmup=2, seconds=30), 3)
        assert loadtest.verdict(both["fast"], both["slow"], RULE)["verdict"] == loadtest.REGRESSION
        assert loadtest.verdict(both["fast"], both["fast"], RULE)["verdict"] == loadtest.NO_REGRESSION
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
        # the warm-up is bounded too: 500 unmeasured requests at 40 a second would take 12 s
        started = time.monotonic()
        loadtest.interleaved({"slow": request}, loadtest.Load(requests=4, warmup=500, seconds=1.0))
        assert time.monotonic() - started < 1.0 + loadtest.WARMUP_SECONDS + 1.0
    finally:
        procs.stop(server, marker)


def test_rounds_fit_the_time_left_at_the_rate_answered():
    answered = loadtest.Figures(latencies_ms=[100.0] * 40, wall=2.0)  # 20 requests a second
    assert loadtest.fits(answered, 0.5, 4) == 10
    assert loadtest.fits(answered, 0.0, 4) == 4  # at least one request per client
    assert loadtest.fits(loadtest.Figures(), 5.0, 4) == 4  # nothing answered yet: one round of the clients
