from pathlib import Path

import pytest
from packaging.version import Version

from rolloutcheck.drivers.traits import Traits


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
