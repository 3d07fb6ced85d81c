"""Request migration to the mlflow 2 scoring protocol (real files; the output parses back)."""

import json

import pytest

from rolloutcheck.core.paths import PROBES
from rolloutcheck.probes import curl, migrate

SPLIT = '{"columns": ["a", "b"], "data": [[1, 2]]}'


def req(content_type: str | None, body: str) -> curl.Request:
    headers = {"Content-Type": content_type} if content_type else {}
    return curl.Request("POST", "http://127.0.0.1:1234/invocations", headers, body)


def test_pandas_split_is_wrapped():
    new = migrate.to_v2(req("application/json; format=pandas-split", SPLIT))
    assert new.content_type == "application/json"
    assert json.loads(new.body) == {"dataframe_split": json.loads(SPLIT)}


@pytest.mark.parametrize("content_type", ["application/json; format=pandas-records", "application/json", None])
def test_records_are_wrapped(content_type):
    body = '[{"a": 1, "b": 2}, {"a": 3, "b": 4}]'
    new = migrate.to_v2(req(content_type, body))
    assert json.loads(new.body) == {"dataframe_records": json.loads(body)}


def test_plain_json_split_was_1x_default():
    assert json.loads(migrate.to_v2(req("application/json", SPLIT)).body) == {"dataframe_split": json.loads(SPLIT)}


@pytest.mark.parametrize(
    "content_type, body",
    [("text/csv", "a,b\n1,2\n"), ("application/json", '{"dataframe_split": ' + SPLIT + "}"),
     ("application/json", '{"inputs": [[1, 2]]}')],
)  # fmt: skip
def test_csv_and_already_2x_need_no_change(content_type, body):
    assert migrate.to_v2(req(content_type, body)) is None


@pytest.mark.parametrize(
    "content_type, body, message",
    [("application/json; format=pandas-split", "[1, 2]", "has no 2.x mapping"),
     ("application/json-numpy-split", SPLIT, "no 2.x equivalent"),
     ("application/json", "not json", "not JSON")],
)  # fmt: skip
def test_unknown_forms_are_clear_errors(content_type, body, message):
    with pytest.raises(migrate.MigrationError, match=message) as error:
        migrate.to_v2(req(content_type, body), "probes/x/y.curl")
    assert str(error.value).startswith("probes/x/y.curl: ")


def test_migrate_file_writes_beside_and_never_overwrites(tmp_path):
    stored = tmp_path / "seed_pandas_split.curl"
    stored.write_text((PROBES / "sklearn_elasticnet_wine" / "seed_pandas_split.curl").read_text())
    target = migrate.migrate_file(stored)
    assert target == tmp_path / "migrated-v2" / "seed_pandas_split.curl"
    parsed = curl.load(target)  # what it writes is a stored request the probe parser accepts
    wanted = curl.load(PROBES / "sklearn_elasticnet_wine" / "dataframe_split.curl")  # the seed's, by hand
    assert json.loads(parsed.body) == json.loads(wanted.body)
    assert parsed.content_type == "application/json" and parsed.url == wanted.url
    with pytest.raises(migrate.MigrationError, match="not overwritten"):
        migrate.migrate_file(stored)
    assert migrate.migrate_file(PROBES / "sklearn_elasticnet_wine" / "dataframe_split.curl") is None
