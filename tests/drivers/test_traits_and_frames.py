from pathlib import Path

import pytest
from packaging.version import Version

from rolloutcheck.cells.stages.tracking import probe_frame
from rolloutcheck.drivers.traits import Traits
from rolloutcheck.probes import curl


@pytest.mark.parametrize(
    "version, flags, store",
    [("1.2.0", ["--no-conda"], "file"), ("1.30.1", ["--env-manager", "local"], "file"),
     ("2.22.5", ["--env-manager", "local"], "file"), ("3.17.2", ["--env-manager", "local"], "sqlite"),
     # compared on the release (versionmatch): pre-releases and the fork's local versions sit with their release
     ("1.2.0+sbd.0", ["--no-conda"], "file"), ("1.25.0rc0", ["--env-manager", "local"], "file"),
     ("1.25.0.dev0", ["--env-manager", "local"], "file"), ("2.0.0rc0", ["--env-manager", "local"], "file"),
     ("3.0.0rc0", ["--env-manager", "local"], "sqlite"), ("3.0.0.dev1", ["--env-manager", "local"], "sqlite")],
)  # fmt: skip
def test_cli_flags_and_store_by_version(version, flags, store):
    traits = Traits(Version(version))
    assert traits.local_env_flags == flags
    assert traits.store_kind == store
    uri = traits.tracking_uri(Path("/r/cell"))
    assert uri == ("sqlite:////r/cell/mlflow.db" if store == "sqlite" else "/r/cell/mlruns")


def request(body: str) -> curl.Request:
    return curl.Request("POST", "http://127.0.0.1:1/invocations", {}, body)


@pytest.mark.parametrize(
    "body",
    [
        '{"columns": ["a", "b"], "data": [[1, 2]]}',
        '{"dataframe_split": {"columns": ["a", "b"], "data": [[1, 2]]}}',
        '{"dataframe_records": [{"a": 1, "b": 2}]}',
    ],
)
def test_probe_frames_for_the_oracle(body):
    assert probe_frame(request(body)) == {"columns": ["a", "b"], "data": [[1, 2]]}


@pytest.mark.parametrize("body", ["not json", '{"inputs": [[1, 2]]}', "[1, 2]"])
def test_bodies_without_a_frame(body):
    assert probe_frame(request(body)) is None


def test_records_with_different_keys_are_a_frame_not_a_keyerror():
    """A dataframe_records body whose records differ used to raise KeyError between stages."""
    frame = probe_frame(request('{"dataframe_records": [{"a": 1, "b": 2}, {"a": 3, "c": 4}]}'))
    assert frame == {"columns": ["a", "b", "c"], "data": [[1, 2, None], [3, None, 4]]}
