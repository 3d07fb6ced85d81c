"""A validate cell's load stops at the time budget (ROLLOUT_SPEED_SECONDS); ROLLOUT_RETRAIN is read once."""

from __future__ import annotations

from types import SimpleNamespace

from rolloutcheck.cells.stages import speed
from rolloutcheck.core.settings import Settings, SpeedLimits
from rolloutcheck.probes.loadtest import Load


def test_the_validate_load_stops_at_the_budget_and_keeps_its_request_count():
    ctx = SimpleNamespace(usecase=SimpleNamespace(load=Load(requests=200, seconds=60.0)), limits=SpeedLimits())
    assert speed.bounded(ctx) == Load(requests=200, seconds=10.0)
    quick = SimpleNamespace(usecase=SimpleNamespace(load=Load(seconds=2.0)), limits=SpeedLimits())
    assert speed.bounded(quick).seconds == 2.0  # a use case's own smaller bound stands
    assert "up to 200 requests per probe in 10 s" in speed.describe(ctx)


def test_settings_read_the_budget_and_the_retrain_switch(tmp_path):
    settings = Settings.from_environ({"ROLLOUT_RESULTS": str(tmp_path), "ROLLOUT_SPEED_SECONDS": "3",
                                      "ROLLOUT_RETRAIN": "1"})  # fmt: skip
    assert settings.speed.validate_seconds == 3.0 and settings.retrain
    assert settings.model_cache == tmp_path / "model-cache"
    assert not Settings.from_environ({"ROLLOUT_RESULTS": str(tmp_path)}).retrain
