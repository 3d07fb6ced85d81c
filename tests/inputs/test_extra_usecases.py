"""The shipped default is the seed's use cases; ROLLOUT_EXTRA_USECASES adds folders laid out as the
repository (examples/teams: teams' sample projects), their probes and locks found beside them."""

from __future__ import annotations

import pytest

from rolloutcheck.core import paths
from rolloutcheck.core.settings import Settings, SettingsError
from rolloutcheck.inputs import usecases

SEED = ["h2o_wine", "sklearn_elasticnet_wine", "tensorflow", "xgboost_adult"]
TEAMS = ["team_churn_pyenv", "team_housing_autolog", "team_iris_example"]


def test_without_the_setting_only_the_seeds_use_cases_are_cells(monkeypatch):
    monkeypatch.delenv(paths.EXTRA_USECASES, raising=False)
    assert usecases.names() == SEED
    assert paths.usecase_dir("tensorflow") == paths.USECASES / "tensorflow"


def test_extra_folders_add_their_use_cases_with_their_probes_and_locks(monkeypatch):
    monkeypatch.setenv(paths.EXTRA_USECASES, "examples/teams")
    assert usecases.names() == sorted(SEED + TEAMS)
    teams = paths.ROOT / "examples" / "teams"
    assert paths.usecase_dir("team_churn_pyenv") == teams / "usecases" / "team_churn_pyenv"
    assert paths.probes_dir("team_churn_pyenv") == teams / "probes" / "team_churn_pyenv"
    assert paths.cell_env_dir("team_iris_example", "3.17.2") == teams / "envs" / "team_iris_example" / "3.17.2"
    assert (paths.cell_env_dir("team_iris_example", "3.17.2") / "requirements.lock").is_file()
    assert paths.probes_dir("h2o_wine") == paths.PROBES / "h2o_wine"  # the repository's own stay where they are
    assert usecases.discover()["team_churn_pyenv"].probes_dir == teams / "probes" / "team_churn_pyenv"


def test_a_folder_without_usecases_is_one_settings_line(tmp_path):
    with pytest.raises(SettingsError, match=r"ROLLOUT_EXTRA_USECASES: .* has no usecases/ folder"):
        Settings.from_environ({paths.EXTRA_USECASES: str(tmp_path)})
