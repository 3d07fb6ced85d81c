import pytest

from rolloutcheck import expectations, probing
from rolloutcheck.paths import PROBES
from rolloutcheck.results import FAIL, PASS, XFAIL, XPASS

ENTRIES = [
    {"mlflow": "<2", "status": 200, "predictions": "oracle"},
    {"mlflow": ">=2", "status": 200, "predictions": "oracle", "xfail": {"reason": "protocol changed", "status": 415}},
]


def pick(version):
    return expectations.select(expectations.parse(ENTRIES, "t.yaml"), version)


def test_first_matching_specifier_wins():
    assert pick("1.2.0").xfail is None
    assert pick("1.2.0+sbd.0").xfail is None  # a fork's local version still matches
    assert pick("2.22.5").xfail.reason == "protocol changed"
    assert pick("3.18.0rc1").xfail.status == (415,)


def test_no_entry_matches():
    only_new = expectations.parse([{"mlflow": ">=3", "status": 200}], "t.yaml")
    assert expectations.select(only_new, "1.30.1") is None


@pytest.mark.parametrize(
    "entries, message",
    [
        ([], "non-empty list"),
        ([{"mlflow": "<<2", "status": 200}], "bad mlflow specifier"),
        ([{"mlflow": "<2"}], "has no status"),
        ([{"mlflow": "<2", "status": "ok"}], "HTTP code"),
        ([{"mlflow": "<2", "status": 200, "xfail": {"status": 415}}], "needs a reason"),
    ],
)
def test_malformed_expectations(entries, message):
    with pytest.raises(expectations.ExpectationError, match=message):
        expectations.parse(entries, "t.yaml")


@pytest.mark.parametrize("path", sorted(PROBES.glob("*/*.expect.yaml")), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_stored_expectation_loads_and_covers_all_majors(path):
    loaded = expectations.load(path)
    for version in ("1.2.0", "1.30.1", "2.22.5", "3.17.2"):
        assert expectations.select(loaded, version) is not None, version


@pytest.mark.parametrize(
    "version, status, predictions, oracle, verdict",
    [
        ("1.2.0", 200, [5.1], [5.1], PASS),
        ("1.2.0", 200, [18.9], [5.1], FAIL),  # fed by position: the silent wrong answer
        ("1.2.0", 500, None, [5.1], FAIL),
        ("1.2.0", 200, None, [5.1], FAIL),  # 200 without predictions
        ("1.2.0", 200, [5.1], None, FAIL),  # no oracle to compare with
        ("3.17.2", 415, None, [5.1], XFAIL),  # the known break
        ("3.17.2", 200, [5.1], [5.1], XPASS),  # the known break went away
        ("3.17.2", 500, None, [5.1], FAIL),  # broke differently
    ],
)
def test_judge(version, status, predictions, oracle, verdict):
    got, reason = probing.judge(pick(version), status, predictions, oracle)
    assert got == verdict, reason
    assert reason


def test_golden_values_and_status_lists():
    entry = expectations.parse([{"mlflow": ">=0", "status": [200], "golden": [5.0], "tolerance": 0.01}], "t")[0]
    assert probing.judge(entry, 200, [5.001], None)[0] == PASS
    assert probing.judge(entry, 200, [5.5], None)[0] == FAIL
    refused = expectations.parse([{"mlflow": ">=0", "status": [400, 500]}], "t")[0]
    assert probing.judge(refused, 400, None, None)[0] == PASS
    assert probing.judge(refused, 200, [1.0], None)[0] == FAIL


@pytest.mark.parametrize(
    "body, flat",
    [([5.1], [5.1]), ({"predictions": [1, 2]}, [1.0, 2.0]), ([[1.5], [2.5]], [1.5, 2.5]), ([{"a": 3}], [3.0])],
)
def test_prediction_shapes(body, flat):
    assert probing.flatten(body) == flat
