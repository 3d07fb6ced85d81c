"""The MySQL store's settings and URLs: a team's server is given without a password (the no-secret rule:
PyMySQL reads none from the environment), mlflow's URL names the PyMySQL driver and no password."""

import pytest

from rolloutcheck.core.settings import Settings, SettingsError
from rolloutcheck.inputs import stores as storeconfig
from rolloutcheck.spec.kinds import STORE_UPGRADE
from rolloutcheck.stores import mysql


def test_a_mysql_url_with_a_password_is_refused_in_one_line_without_echoing_it():
    with pytest.raises(SettingsError) as error:
        Settings.from_environ({"ROLLOUT_MYSQL_URL": "mysql://admin:s3cret-pw@db.example:3306/"})
    assert "must not carry a password" in str(error.value) and "s3cret-pw" not in str(error.value)
    with pytest.raises(SettingsError, match="must be a mysql:// URL, not 'postgresql'"):
        Settings.from_environ({"ROLLOUT_MYSQL_URL": "postgresql://u@h/db"})
    assert Settings.from_environ({"ROLLOUT_MYSQL_URL": "mysql://ci@127.0.0.1:3307/"}).mysql_url.endswith(":3307/")


def test_the_url_mlflow_gets_names_pymysql_the_host_port_and_account():
    assert mysql._url("127.0.0.1", 3307, "mlflow", "db1") == "mysql+pymysql://mlflow@127.0.0.1:3307/db1"
    assert mysql.url_parts("mysql://ci@10.0.0.5:3310/x") == ("10.0.0.5", 3310, "ci", "x")
    assert mysql.url_parts("mysql://10.0.0.5/") == ("10.0.0.5", 3306, "root", "")


def test_mysql_is_a_database_store_kind_whose_driver_is_pinned_for_it():
    assert STORE_UPGRADE.stages("mysql") == STORE_UPGRADE.stages("postgresql")  # the same pipeline
    config = storeconfig.load()
    assert "mysql" in config.stores
    assert [p.pin for p in config.pins if "mysql" in p.stores] == ["PyMySQL"] + [
        p.pin for p in config.pins if p.specifier and "mysql" in p.stores]  # fmt: skip


def test_a_copy_of_production_on_mysql_is_checked_by_the_mysql_cell_in_place_and_never_dropped(tmp_path):
    from rolloutcheck.cells.stages.store import create

    assert create.copy_kind("mysql://ci@db.example:3306/prod_copy") == "mysql"
    assert create.copy_kind("mysql+pymysql://ci@db.example/prod_copy") == "mysql"
    copy = mysql.given("mysql://ci@db.example:3310/prod_copy", tmp_path / "store.log")
    assert copy.url == "mysql+pymysql://ci@db.example:3310/prod_copy" and not copy.drop and copy.socket is None
    with pytest.raises(mysql.MysqlError, match="names no database"):
        mysql.given("mysql://ci@db.example:3310/", tmp_path / "store.log")
    with pytest.raises(SettingsError) as error:
        Settings.from_environ({"ROLLOUT_STORE_COPY": "mysql://ci:s3cret-pw@db.example/prod_copy"})
    assert "must not carry a password" in str(error.value) and "s3cret-pw" not in str(error.value)
