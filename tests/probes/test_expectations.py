import pytest

from rolloutcheck.core.paths import PROBES
from rolloutcheck.probes import expectations
from rolloutcheck.probes import judge as probing
from rolloutcheck.spec.results import FAIL, PASS, XFAIL, XPASS

ENTRIES = [
    {"mlflow": "<2", "status": 200, "predictions": "oracle"},
    {
        "mlflow": ">=2",
        "status": 200,
        "predictions": "oracle",
        "xfail": {"reason": "protocol changed", "status": 415, "seen": "content type parameters: format"},
    },
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
        ({"mlflow": "<2", "status": 200}, "non-empty list"),  # a mapping, not a list of entries
        (None, "non-empty list"),  # an empty file
        ([{"mlflow": "<<2", "status": 200}], "bad mlflow specifier"),
        ([{"status": 200}], "no mlflow specifier"),
        ([{"mlflow": "", "status": 200}], "bad mlflow specifier"),
        ([{"mlflow": 2, "status": 200}], "bad mlflow specifier"),
        ([{"mlflow": ">=2.0.0rc0", "status": 200}], "matched on their release"),
        ([{"mlflow": "==1.2.0+sbd.0", "status": 200}], "matched on their release"),
        ([{"mlflow": "<2"}], "has no status"),
        ([{"mlflow": "<2", "status": "ok"}], "HTTP code"),
        ([{"mlflow": "<2", "status": []}], "HTTP code"),
        ([{"mlflow": "<2", "status": True}], "HTTP code"),
        ([{"mlflow": "<2", "status": 200, "xfail": {"status": 415}}], "needs a reason"),
        ([{"mlflow": "<2", "status": 200, "xfail": "broken"}], "must be a mapping"),
        ([{"mlflow": "<2", "status": 200, "xfail": {"reason": "r", "status": 415}}], "`seen:` is missing"),
        ([{"mlflow": "<2", "status": 200, "xfail": {"reason": "r", "seen": "[a"}}], "not a valid regular expression"),
        ([{"mlflow": "<2", "status": 200, "xfail": {"reason": "r", "seen": "a", "kind": "x"}}], "`kind:` must be one"),
        ([{"mlflow": "<2", "status": 200, "golden": 5.1}], "golden must be"),
        ([{"mlflow": "<2", "status": 200, "golden": []}], "golden must be"),
        ([{"mlflow": "<2", "status": 200, "golden": [1.0, "a"]}], "golden must be"),
        ([{"mlflow": "<2", "status": 200, "golden": [True]}], "golden must be"),
        ([{"mlflow": "<2", "status": 200, "golden": [[1.0]]}], "golden must be"),
        ([{"mlflow": "<2", "status": 200, "golden": [float("nan")]}], "NaN"),
        ([{"mlflow": "<2", "status": 200, "golden": [1.0], "tolerance": -0.1}], "tolerance must be"),
        ([{"mlflow": "<2", "status": 200, "golden": [1.0], "tolerance": "0.1"}], "tolerance must be"),
        ([{"mlflow": "<2", "status": 200, "predictions": "golden"}], "can only be 'oracle'"),
        ([{"mlflow": "<2", "status": 200, "predictions": None}], "can only be 'oracle'"),
        (["<2"], "entry 1 is not a mapping"),
        ([{"mlflow": "<2", "status": 200}, ["status", 200]], "entry 2 is not a mapping"),
    ],
)
def test_malformed_expectations(entries, message):
    with pytest.raises(expectations.ExpectationError, match=message) as error:
        expectations.parse(entries, "t.yaml")
    assert str(error.value).startswith("t.yaml: ") and "\n" not in str(error.value)


@pytest.mark.parametrize(
    "text, message",
    [
        ('- mlflow: "<2"\n  status: 200\n  golden: 5.1\n', "golden must be a non-empty list of numbers"),
        ('- mlflow: "<2"\n  status: 200\n  predicitons: oracle\n', "entry 1 (mlflow '<2'): unknown key 'predicitons'"),
        (
            '- mlflow: "<2"\n  status: 200\n- mlflow: ">=2"\n  status: 200\n  xfail: {reason: r, code: 415}\n',
            "entry 2 (mlflow '>=2') xfail: unknown key 'code'; known keys: reason, status, seen, kind",
        ),
        ('- mlflow: "<2"\n  status: 200\n  tolerence: 0.1\n', "known keys: mlflow, status, predictions, golden"),
        ("- just a string\n", "entry 1 is not a mapping"),
        ("mlflow: <2\nstatus: 200\n", "must be a non-empty list"),
        ("", "must be a non-empty list"),
        ("- [unclosed\n", "cannot be read"),
    ],
)
def test_expectation_files_are_checked_strictly(tmp_path, text, message):
    path = tmp_path / "probe.expect.yaml"
    path.write_text(text)
    with pytest.raises(expectations.ExpectationError) as error:
        expectations.load(path)  # an ExpectationError, never a TypeError escaping the handlers
    assert message in str(error.value)
    assert str(error.value).startswith(f"{path}: ")  # every message names the file first
    assert "\n" not in str(error.value)  # one line


def test_undecodable_file_is_an_expectation_error(tmp_path):
    path = tmp_path / "probe.expect.yaml"
    path.write_bytes(b"- mlflow: '\xff\xfe<2'\n")
    with pytest.raises(expectations.ExpectationError, match="cannot be read"):
        expectations.load(path)


def test_a_complete_entry_loads(tmp_path):
    path = tmp_path / "probe.expect.yaml"
    path.write_text(
        '- mlflow: ">=1.2,<3"\n  status: [200, 201]\n  predictions: oracle\n  golden: [5, 6.5]\n  tolerance: 0\n'
        '  xfail: {reason: "known", status: 415, seen: "format"}\n'
        '- mlflow: ">=0"\n  status: 200\n  golden: ["<=50K", ">50K"]\n'
    )
    first, second = expectations.load(path)
    assert (first.status, first.oracle, first.golden, first.tolerance) == ((200, 201), True, (5.0, 6.5), 0.0)
    assert (first.xfail.reason, first.xfail.status, first.xfail.seen.pattern) == ("known", (415,), "format")
    assert first.xfail.kind == "client-request"
    assert (second.golden, second.oracle, second.xfail) == (("<=50K", ">50K"), False, None)


@pytest.mark.parametrize("path", sorted(PROBES.glob("*/*.expect.yaml")), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_stored_expectation_loads_and_covers_all_majors(path):
    loaded = expectations.load(path)
    for version in ("1.2.0", "1.2.0+sbd.0", "1.30.1", "2.0.0rc0", "2.22.5", "3.0.0rc0", "3.17.2"):
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
        ("3.17.2", 416, None, [5.1], FAIL),  # another status
        ("3.17.2", 200, [5.1], [5.1], XPASS),  # the known break went away
        ("3.17.2", 500, None, [5.1], FAIL),  # broke differently
    ],
)
def test_judge(version, status, predictions, oracle, verdict):
    body = "Unrecognized content type parameters: format. IMPORTANT: The MLflow Model scoring protocol has changed"
    got, reason = probing.judge(pick(version), status, predictions, oracle, body if status == 415 else "")
    assert got == verdict, reason
    assert reason


def test_a_refusal_the_written_down_break_does_not_describe_is_a_failure():
    """The status is the known break's, but the answer is about something else: not that break."""
    got, reason = probing.judge(pick("3.17.2"), 415, None, [5.1], '{"message": "payload too large for this model"}')
    assert got == FAIL and reason.startswith("a break not written down at probe: HTTP 415")
    assert "payload too large" in reason


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


@pytest.mark.parametrize(
    "body, flat",
    [
        ({"predictions": ["<=50K", ">50K"]}, ["<=50K", ">50K"]),
        (["a"], ["a"]),
        ([{"label": "a", "score": 1}], ["a", 1.0]),
        ("a", ["a"]),
    ],
)
def test_class_labels_are_predictions(body, flat):
    assert probing.flatten(body) == flat


@pytest.mark.parametrize("body", [[True], {"predictions": [None]}, [1, [False]], [10**400]])
def test_not_predictions(body):
    with pytest.raises(ValueError):
        probing.flatten(body)


LABELS = [{"mlflow": ">=0", "status": 200, "predictions": "oracle"}]


@pytest.mark.parametrize(
    "predictions, oracle, verdict",
    [
        (["<=50K", ">50K"], ["<=50K", ">50K"], PASS),
        (["<=50K", "<=50K"], ["<=50K", ">50K"], FAIL),  # one label differs
        (["<=50K"], ["<=50K", ">50K"], FAIL),  # one prediction missing
        (["a", 0.5000001], ["a", 0.5], PASS),  # a mix: labels equal, numbers within tolerance
        (["a", 0.6], ["a", 0.5], FAIL),
        (["1"], [1.0], FAIL),  # a label never equals a number
        ([1.0], ["1"], FAIL),
    ],
)
def test_judge_class_labels_against_the_oracle(predictions, oracle, verdict):
    entry = expectations.parse(LABELS, "t")[0]
    got, reason = probing.judge(entry, 200, predictions, oracle)
    assert got == verdict, reason


def test_judge_class_labels_against_golden_labels(tmp_path):
    path = tmp_path / "probe.expect.yaml"
    path.write_text('- mlflow: ">=0"\n  status: 200\n  golden: ["<=50K", ">50K"]\n')
    entry = expectations.load(path)[0]
    served = probing.flatten({"predictions": ["<=50K", ">50K"]})
    assert probing.judge(entry, 200, served, None) == (PASS, "HTTP 200, predictions ['<=50K', '>50K'] match")
    verdict, reason = probing.judge(entry, 200, [">50K", ">50K"], None)
    assert verdict == FAIL and "golden" in reason
    assert probing.judge(entry, 200, [0.0, 1.0], None)[0] == FAIL
