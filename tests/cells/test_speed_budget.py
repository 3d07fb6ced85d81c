"""A validate cell's load stops at the time budget (ROLLOUT_SPEED_SECONDS), its count can be set
(ROLLOUT_SPEED_REQUESTS); ROLLOUT_RETRAIN and ROLLOUT_FAIL_FAST are read once."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from rolloutcheck.cells.stages import speed
from rolloutcheck.core.settings import Settings, SettingsError, SpeedLimits
from rolloutcheck.probes.loadtest import Load


def test_the_validate_load_stops_at_the_budget_and_keeps_its_request_count_on_a_stand_in_context():
    ctx = SimpleNamespace(usecase=SimpleNamespace(load=Load(requests=200, seconds=60.0)), limits=SpeedLimits())
    assert speed.bounded(ctx) == Load(requests=200, seconds=10.0)
    quick = SimpleNamespace(usecase=SimpleNamespace(load=Load(seconds=2.0)), limits=SpeedLimits())
    assert speed.bounded(quick).seconds == 2.0  # a use case's own smaller bound stands
    assert "up to 200 requests per probe in 10 s in all" in speed.describe(ctx)
    more = SimpleNamespace(usecase=ctx.usecase, limits=SpeedLimits(validate_requests=5000))
    assert speed.bounded(more) == Load(requests=5000, seconds=10.0)  # more requests, the same time bound


def test_settings_read_the_budget_and_the_retrain_switch(tmp_path):
    settings = Settings.from_environ({"ROLLOUT_RESULTS": str(tmp_path), "ROLLOUT_SPEED_SECONDS": "3",
                                      "ROLLOUT_RETRAIN": "1"})  # fmt: skip
    assert settings.speed.validate_seconds == 3.0 and settings.retrain
    assert settings.model_cache == tmp_path / "model-cache"
    assert not Settings.from_environ({"ROLLOUT_RESULTS": str(tmp_path)}).retrain
    assert not settings.fail_fast and Settings.from_environ({"ROLLOUT_FAIL_FAST": " TRUE "}).fail_fast
    assert not Settings.from_environ({"ROLLOUT_FAIL_FAST": "0"}).fail_fast
    assert settings.speed.validate_requests is None
    assert Settings.from_environ({"ROLLOUT_SPEED_REQUESTS": "5000"}).speed.validate_requests == 5000
    for bad in ("0", "-3", "1e4", "many"):
        with pytest.raises(SettingsError, match="ROLLOUT_SPEED_REQUESTS=.* must be a positive whole number"):
            Settings.from_environ({"ROLLOUT_SPEED_REQUESTS": bad})


def test_the_reuse_key_holds_the_java_version_of_a_jvm_model_with_stand_in_cell_state(tmp_path, monkeypatch):
    """A Java upgrade alone must train an h2o model again: the JVM is an input of its training."""
    import sys
    from pathlib import Path

    from rolloutcheck.cells.stages import reuse
    from rolloutcheck.envs import install
    from rolloutcheck.spec.results import CellResult
    from rolloutcheck.stores import trained

    lock = tmp_path / "requirements.lock"
    lock.write_text("mlflow==1.2.0\n")
    root = Path(__file__).resolve().parents[2]
    state = SimpleNamespace(lock_file=lock, traits=object(), result=CellResult("1.2.SBD.0", "h2o_wine", str(tmp_path),
                                                                              mlflow_version="1.2.0"),
                            need=lambda *names: None)  # fmt: skip
    keys = {}
    for java in ("openjdk 17.0.1", "openjdk 21.0.2"):
        monkeypatch.setattr(install, "java_version", lambda java=java: java)
        for needs_java in (True, False):
            usecase = SimpleNamespace(folder=root / "usecases" / "h2o_wine", params={}, needs_java=needs_java)
            ctx = SimpleNamespace(usecase=usecase, backend=SimpleNamespace(name="uv"), prefix=Path(sys.prefix))
            keys[(java, needs_java)] = trained.key_of(reuse.inputs(ctx, state))
    assert keys[("openjdk 17.0.1", True)] != keys[("openjdk 21.0.2", True)]
    assert keys[("openjdk 17.0.1", False)] == keys[("openjdk 21.0.2", False)]  # no JVM, no Java in the key
