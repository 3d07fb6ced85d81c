"""Bounded load against local servers, and how to read it: percentiles and a regression judgement.

Requests go only to 127.0.0.1 (through localhttp: no proxy, no redirect away), are capped in
count and in time, and two servers are measured interleaved, in rounds, so that whatever else the
machine does hits both alike.
"""

from __future__ import annotations

import math
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, replace
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


WARMUP_SECONDS = 3.0  # per server: a slow one (h2o's 1.x) is warm after a few rounds, not 50 answers


def _warm(pool: ThreadPoolExecutor, clients: list, request: curl.Request, n: int, seconds: float) -> None:
    """Up to `n` requests not measured, a round of `concurrency` at a time, stopping after `seconds`."""
    deadline, sent = time.monotonic() + seconds, 0
    while sent < n and time.monotonic() < deadline:
        batch = min(len(clients), n - sent)
        _batch(pool, clients, request, batch, None)
        sent += batch


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
            _warm(pool, clients, request, load.warmup, min(WARMUP_SECONDS, load.seconds))
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


def quantiles(figures: Figures, step: int = 5) -> list[float]:
    """The latency distribution in a few numbers (every `step`-th percentile): what a picture draws."""
    values = sorted(figures.latencies_ms)
    return [round(percentile(values, q), 2) for q in range(0, 101, step)] if values else []


def pooled(parts: list[Figures]) -> Figures:
    together = Figures()
    for part in parts:
        together.latencies_ms += part.latencies_ms
        together.errors += part.errors
        together.wall += part.wall
    return together


def repeated(requests: dict[str, curl.Request], load: Load, repeats: int) -> dict[str, list[Figures]]:
    """`repeats` interleaved measurements of every server in turn (the load and its time shared out,
    one warm-up): each side's figures per repeat, so a verdict can ask whether the repeats agree."""
    repeats = max(1, repeats)
    share = Load(requests=max(1, math.ceil(load.requests / repeats)), concurrency=load.concurrency,
                 warmup=load.warmup, seconds=load.seconds / repeats)  # fmt: skip
    found: dict[str, list[Figures]] = {name: [] for name in requests}
    for n in range(repeats):
        for name, figures in interleaved(requests, share if n == 0 else replace(share, warmup=0), rounds=4).items():
            found[name].append(figures)
    return found


REGRESSION, NO_REGRESSION, INCONCLUSIVE, NOT_MEASURED = "regression", "none", "inconclusive", "not measured"
NOT_SERVED = "not served"  # the path's server never answered the request: its break is the finding, not its speed


@dataclass(frozen=True)
class Rule:
    """A regression: p95 more than `p95_ratio` times *and* more than `p95_min_ms` above the base."""

    p95_ratio: float
    p95_min_ms: float

    def slower(self, base_p95: float, other_p95: float) -> bool:
        ratio = other_p95 / base_p95 if base_p95 else math.inf
        return ratio > self.p95_ratio and other_p95 - base_p95 > self.p95_min_ms


def verdict(base: list[Figures], other: list[Figures], rule: Rule) -> dict:
    """The judgement of two sides measured in the same repeats: `regression` only when every repeat is
    slower by the rule, `none` when none is, else `inconclusive` (the repeats straddle the threshold);
    with the pooled figures, each repeat's ratio, and both distributions."""
    before, after = pooled(base).summary(), pooled(other).summary()
    row = {"from": before, "to": after, "quantiles": {"from": quantiles(pooled(base)), "to": quantiles(pooled(other))}}
    pairs = [(b.summary()["p95_ms"], o.summary()["p95_ms"])
             for b, o in zip(base, other, strict=True) if b.count and o.count]  # fmt: skip
    row["rounds"] = [round(o / b, 2) if b else None for b, o in pairs]
    if before["errors"] or after["errors"] or not pairs:
        failed = "from" if before["errors"] else "to"
        figures = before if failed == "from" else after
        return row | {
            "verdict": NOT_MEASURED,
            "text": f"{figures['errors']} of {figures['requests']} requests to the {failed} server failed",
        }
    slower = [rule.slower(b, o) for b, o in pairs]
    judged = REGRESSION if all(slower) else NO_REGRESSION if not any(slower) else INCONCLUSIVE
    ratio = after["p95_ms"] / before["p95_ms"] if before["p95_ms"] else math.inf
    spread = f"x{min(row['rounds']):.2f}-x{max(row['rounds']):.2f} over {len(pairs)} repeats"
    text = (f"p95 {before['p95_ms']:.1f} -> {after['p95_ms']:.1f} ms (x{ratio:.2f}; {spread}), "
            f"{before['rps']} -> {after['rps']} req/s")  # fmt: skip
    if judged != NO_REGRESSION:
        text = f"{judged}: {text} (limit x{rule.p95_ratio} and +{rule.p95_min_ms:g} ms)"
    return row | {"verdict": judged, "ratio": round(ratio, 2), "text": text}


def as_dict(load: Load) -> dict:
    return asdict(load)
