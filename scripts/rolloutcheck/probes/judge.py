"""Replaying stored requests against the server under test and judging them."""

from __future__ import annotations

import json
import logging
import math
import time
from dataclasses import dataclass
from pathlib import Path

import requests

from rolloutcheck.probes import curl, localhttp
from rolloutcheck.probes.expectations import Expectation
from rolloutcheck.spec.breaks import UNWRITTEN
from rolloutcheck.spec.results import FAIL, PASS, XFAIL, XPASS, ProbeResult

logging.getLogger("urllib3").setLevel(logging.WARNING)  # nox logs at DEBUG: keep polls quiet


@dataclass(frozen=True)
class Probe:
    name: str
    request_file: Path
    expect_file: Path


def discover(folder: Path) -> list[Probe]:
    return [Probe(p.stem, p, p.with_name(f"{p.stem}.expect.yaml")) for p in sorted(folder.glob("*.curl"))]


Prediction = float | str  # a number, or a class label


def flatten(value) -> list[Prediction]:
    """Predictions out of any shape: [1.0], [[1.0]], {"predictions": ...}, [{"a": 1.0}], ["<=50K", ">50K"].

    Numbers become floats, strings (class labels) stay strings; booleans and nulls are a ValueError.
    """
    if isinstance(value, dict):
        if "predictions" in value:
            return flatten(value["predictions"])
        return [x for v in value.values() for x in flatten(v)]
    if isinstance(value, list):
        return [x for v in value for x in flatten(v)]
    if isinstance(value, str):
        return [value]
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"not a prediction: {value!r}")
    try:
        return [float(value)]
    except OverflowError:  # a JSON integer beyond float range
        raise ValueError(f"number out of range: {value!r}") from None


def _same(got: Prediction, want: Prediction, tolerance: float) -> bool:
    """Numbers within tolerance, anything else (labels) equal; a number never equals a label."""
    if isinstance(got, str) or isinstance(want, str):
        return isinstance(got, str) and isinstance(want, str) and got == want
    return math.isclose(got, want, rel_tol=tolerance, abs_tol=tolerance)


def close(got: list[Prediction], want: list[Prediction], tolerance: float) -> bool:
    """Same length, and element by element: numbers within tolerance, class labels equal."""
    return len(got) == len(want) and all(_same(g, w, tolerance) for g, w in zip(got, want, strict=True))


def wanted_outcome(
    expectation: Expectation,
    status: int | None,
    predictions: list[Prediction] | None,
    oracle: list[Prediction] | None,
) -> tuple[bool, str]:
    """Whether the response is what users want, and if not, why (one line)."""
    if status not in expectation.status:
        return False, f"HTTP {status}, expected {'/'.join(map(str, expectation.status))}"
    if status != 200 or not (expectation.oracle or expectation.golden):
        return True, f"HTTP {status} as expected"
    if predictions is None:
        return False, "HTTP 200 but the body holds no predictions"
    if expectation.oracle:
        if oracle is None:
            return False, "no in-process oracle prediction to compare with"
        if not close(predictions, oracle, expectation.tolerance):
            return False, f"served {predictions} != in-process oracle {oracle}"
    if expectation.golden and not close(predictions, list(expectation.golden), expectation.tolerance):
        return False, f"served {predictions} != golden {list(expectation.golden)}"
    return True, f"HTTP 200, predictions {predictions} match" + (" the oracle" if expectation.oracle else "")


def answer_line(status: int | None, text: str) -> str:
    """The answer as one line, what a known break's `seen:` is matched against: `HTTP 415: <body start>`."""
    return f"HTTP {status}: {' '.join(text.split())[:300]}"


def judge(
    expectation: Expectation,
    status: int | None,
    predictions: list[Prediction] | None,
    oracle: list[Prediction] | None,
    text: str = "",
) -> tuple[str, str]:
    """PASS/FAIL by the expectation; with a known break, XFAIL only when the answer is that break (its
    status and `seen:`), XPASS when the wanted outcome is back, and FAIL for any other answer."""
    ok, why = wanted_outcome(expectation, status, predictions, oracle)
    known = expectation.xfail
    if known is None:
        return (PASS if ok else FAIL), why
    if ok:
        return XPASS, f"known break no longer seen ({known.reason}): {why}"
    line = answer_line(status, text)
    if (not known.status or status in known.status) and known.describes(line):
        return XFAIL, known.reason
    return FAIL, f"{UNWRITTEN} at probe: {why}; {line}"


def send(request: curl.Request, timeout: float = 60.0) -> tuple[int | None, str]:
    """Send to the server under test only: no proxy from the environment, no redirect elsewhere."""
    response = localhttp.request(
        request.method, request.url, headers=request.headers,
        data=request.body.encode() if request.body is not None else None, timeout=timeout,
    )  # fmt: skip
    return response.status_code, response.text


def run_probe(
    probe: Probe, request: curl.Request, expectation: Expectation, oracle: list[float] | None, log
) -> ProbeResult:
    started = time.monotonic()
    try:
        status, text = send(request)
    except requests.RequestException as error:
        return ProbeResult(probe.name, FAIL, f"request failed: {error}", None, time.monotonic() - started,
                           str(probe.request_file))  # fmt: skip
    log.write(f"--- {probe.name}: {request.method} {request.url}\n{request.headers}\n{request.body}\n"
              f"<-- HTTP {status}\n{text[:4000]}\n")  # fmt: skip
    predictions = None
    if status == 200:
        try:
            predictions = flatten(json.loads(text))
        except (ValueError, TypeError):
            predictions = None
    verdict, reason = judge(expectation, status, predictions, oracle, text)
    known = expectation.xfail.as_dict() if verdict == XFAIL and expectation.xfail else None
    return ProbeResult(probe.name, verdict, reason, status, time.monotonic() - started, str(probe.request_file),
                       known)  # fmt: skip
