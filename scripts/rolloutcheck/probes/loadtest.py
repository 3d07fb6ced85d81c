"""Bounded load against local servers, and how to read it: percentiles and a regression judgement.

Requests go only to 127.0.0.1 (through localhttp: no proxy, no redirect away), are capped in
count and in time, and two servers are measured interleaved, in rounds, so that whatever else the
machine does hits both alike.
"""

from __future__ import annotations

import math
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from urllib.parse import urlsplit

from rolloutcheck.probes import curl, localhttp

LOCAL = {"127.0.0.1", "localhost", "::1"}


@dataclass(frozen=True)
class Load:
    """How much load: per use case in usecase.yaml (`load:`), these are the defaults."""

    requests: int = 200
    concurrency: int = 4
    warmup: int = 10
    seconds: float = 60.0  # the whole measurement of one server stops here, whatever is left

    KEYS = ("requests", "concurrency", "warmup", "seconds")


@dataclass
class Figures:
    latencies_ms: list[float] = field(default_factory=list)
    errors: int = 0
    wall: float = 0.0

    @property
    def count(self) -> int:
        return len(self.latencies_ms) + self.errors

    def summary(self) -> dict:
        values = sorted(self.latencies_ms)
        return {
            "requests": self.count,
            "errors": self.errors,
            "p50_ms": round(percentile(values, 50), 2),
            "p95_ms": round(percentile(values, 95), 2),
            "p99_ms": round(percentile(values, 99), 2),
            "rps": round(self.count / self.wall, 1) if self.wall else 0.0,
        }


def percentile(sorted_values: list[float], q: float) -> float:
    """The q-th percentile with linear interpolation between closest ranks; nan for no values."""
    if not sorted_values:
        return math.nan
    rank = (len(sorted_values) - 1) * q / 100
    low, high = math.floor(rank), math.ceil(rank)
    return sorted_values[low] + (sorted_values[high] - sorted_values[low]) * (rank - low)


def _check_local(request: curl.Request) -> None:
    if urlsplit(request.url).hostname not in LOCAL:
        raise ValueError(f"load only targets the local server under test, not {request.url}")


def _one(client, request: curl.Request) -> float | None:
    started = time.perf_counter()
    try:
        response = localhttp.request(request.method, request.url, client=client, headers=request.headers,
                                     data=(request.body or "").encode(), timeout=30)  # fmt: skip
    except Exception:  # noqa: BLE001 - any failed request is an error of the load, counted
        return None
    elapsed = (time.perf_counter() - started) * 1000
    return elapsed if response.status_code == 200 else None


def _batch(pool: ThreadPoolExecutor, clients: list, request: curl.Request, n: int, into: Figures | None) -> None:
    started = time.perf_counter()
    outcomes = list(pool.map(lambda i: _one(clients[i % len(clients)], request), range(n)))
    if into is not None:
        into.wall += time.perf_counter() - started
        for outcome in outcomes:
            if outcome is None:
                into.errors += 1
            else:
                into.latencies_ms.append(outcome)


def fits(figures: Figures, seconds_left: float, concurrency: int) -> int:
    """How many requests fit in `seconds_left` at the rate the server answered so far (one round of
    `concurrency` before it answered any): a slow server (h2o's 1.x: 4 requests a second) does not
    run a whole round past the deadline."""
    if not figures.count or figures.wall <= 0:
        return concurrency
    return max(concurrency, int(figures.count / figures.wall * max(0.0, seconds_left)))


def interleaved(requests: dict[str, curl.Request], load: Load, rounds: int = 10) -> dict[str, Figures]:
    """`load.requests` requests to each server, alternating between them in `rounds` rounds after a
    warm-up; stops early when `load.seconds` per server (in all) has passed."""
    for request in requests.values():
        _check_local(request)
    figures = {name: Figures() for name in requests}
    per_round = max(1, math.ceil(load.requests / rounds))
    deadline = time.monotonic() + load.seconds * len(requests)
    pool = ThreadPoolExecutor(max_workers=load.concurrency)
    clients = [localhttp.session() for _ in range(load.concurrency)]
    try:
        for request in requests.values():
            _batch(pool, clients, request, load.warmup, None)
        while time.monotonic() < deadline and any(f.count < load.requests for f in figures.values()):
            for name, request in requests.items():
                left = load.requests - figures[name].count
                if left > 0:
                    share = (deadline - time.monotonic()) / len(requests)  # of the time left, this server's
                    batch = min(per_round, left, fits(figures[name], share, load.concurrency))
                    _batch(pool, clients, request, batch, figures[name])
    finally:
        # interrupted (Ctrl-C, SIGTERM): the requests of the round not yet sent are dropped, not sent
        # to a server that may be gone (measured: a 100,000-request round held Ctrl-C for minutes)
        pool.shutdown(wait=True, cancel_futures=True)
        for client in clients:
            client.close()
    return figures


def judge(before: dict, after: dict, p95_ratio: float, p95_min_ms: float) -> tuple[bool, str]:
    """A regression: the *after* p95 is more than `p95_ratio` times *and* `p95_min_ms` above *before*."""
    if after["errors"] or not after["requests"]:
        return False, f"{after['errors']} of {after['requests']} requests failed"
    old, new = before["p95_ms"], after["p95_ms"]
    ratio = new / old if old else math.inf
    text = f"p95 {old:.1f} -> {new:.1f} ms (x{ratio:.2f}), {before['rps']} -> {after['rps']} req/s"
    if ratio > p95_ratio and new - old > p95_min_ms:
        return False, f"slower: {text} (limit x{p95_ratio} and +{p95_min_ms:g} ms)"
    return True, text


def as_dict(load: Load) -> dict:
    return asdict(load)
