"""Every request form a scoring server reads becomes a payload the oracle can predict on."""

import json

import pytest

from rolloutcheck.probes import curl, forms

FRAME = {"kind": "frame", "columns": ["a", "b"], "data": [[1, 2]]}
RECORDS = {"kind": "records", "data": [{"a": 1, "b": 2}]}


def request(body: str, content_type: str = "application/json") -> curl.Request:
    return curl.Request("POST", "http://127.0.0.1:1/invocations", {"Content-Type": content_type}, body)


@pytest.mark.parametrize(
    "body, content_type, payload",
    [
        ('{"columns": ["a", "b"], "data": [[1, 2]]}', "application/json; format=pandas-split", FRAME),
        ('{"columns": ["a", "b"], "data": [[1, 2]]}', "application/json", FRAME),  # 1.x's default orient
        ('{"dataframe_split": {"columns": ["a", "b"], "data": [[1, 2]]}}', "application/json", FRAME),
        ('{"dataframe_split": {"data": [[1, 2]]}}', "application/json", {**FRAME, "columns": None}),
        ('{"dataframe_records": [{"a": 1, "b": 2}]}', "application/json", RECORDS),
        ('[{"a": 1, "b": 2}]', "application/json; format=pandas-records", RECORDS),
        ('{"inputs": [[1, 2]]}', "application/json", {"kind": "tensor", "data": [[1, 2]]}),
        ('{"instances": [[1, 2]]}', "application/json", {"kind": "tensor", "data": [[1, 2]]}),
        ('{"inputs": {"a": [1], "b": [2]}}', "application/json", {"kind": "named", "data": {"a": [1], "b": [2]}}),
        # tf-serving's row form: one tensor per key
        ('{"instances": [{"a": 1, "b": 2}, {"a": 3}]}', "application/json",
         {"kind": "named", "data": {"a": [1, 3], "b": [2, None]}}),
        ("a,b\n1,2\n", "text/csv", {"kind": "csv", "text": "a,b\n1,2\n"}),
    ],
)  # fmt: skip
def test_every_form_is_read(body, content_type, payload):
    assert forms.of(request(body, content_type)) == payload


@pytest.mark.parametrize("body", ["not json", "[1, 2]", '{"something": 1}', '{"inputs": []}', ""])
def test_a_body_no_server_reads_is_none(body):
    assert forms.of(request(body)) is None


@pytest.mark.parametrize(
    "payload, version, content_type, body",
    [
        (FRAME, "1.2.0", "application/json; format=pandas-split", {"columns": ["a", "b"], "data": [[1, 2]]}),
        (FRAME, "2.22.5", "application/json", {"dataframe_split": {"columns": ["a", "b"], "data": [[1, 2]]}}),
        ({**FRAME, "columns": None}, "3.17.2", "application/json", {"dataframe_split": {"data": [[1, 2]]}}),
        ({"kind": "records", "data": [{"a": 1}]}, "1.30.1", "application/json; format=pandas-records", [{"a": 1}]),
        ({"kind": "records", "data": [{"a": 1}]}, "3.17.2", "application/json", {"dataframe_records": [{"a": 1}]}),
        ({"kind": "tensor", "data": [[1, 2]]}, "2.22.5", "application/json", {"inputs": [[1, 2]]}),
    ],
)  # fmt: skip
def test_a_payload_in_the_form_of_each_version(payload, version, content_type, body):
    sent_type, sent = forms.body_for(payload, version)
    assert sent_type == content_type
    assert json.loads(sent) == body
    assert forms.from_body(sent, sent_type) == payload  # what is sent reads back as the same payload
