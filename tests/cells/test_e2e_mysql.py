"""MySQL tracking stores for real: production's mlflow (1.2.SBD.0) writes a private MariaDB (Debian's
mariadb-server, which .ci/run installs), 3.17.2 backs it up, upgrades it with `mlflow db upgrade`, reads it
back and rolls it back from the dump; nothing of the server outlives the session, no password is involved.
Without MariaDB the test skips, saying so (in CI it fails)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import psutil
import pytest

from rolloutcheck.spec.results import PASS, CellResult
from rolloutcheck.stores import downtime, mysql
from sessions import NOX, ROOT, nox_env, validate

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(1800)]


def need_mariadb() -> None:
    try:
        mysql.require()
    except mysql.MysqlError as error:
        if os.environ.get("CI"):
            pytest.fail(f"{error.reason} (.ci/run installs it)")
        pytest.skip(error.reason)


def mariadb_servers_in(run: Path) -> list[int]:
    """Live `mariadbd` processes whose data folder is in the run or in a /tmp folder the tool made."""
    found = []
    for proc in psutil.process_iter(["name", "cmdline"]):
        command = " ".join(proc.info["cmdline"] or [])
        if proc.info["name"] in ("mariadbd", "mysqld") and (str(run) in command or "rolloutcheck-my-" in command):
            found.append(proc.pid)
    return found


def test_mysql_upgrade_to_3_17_2_loses_nothing_and_rolls_back(tmp_path):
    need_mariadb()
    run = tmp_path / "run"
    done = validate("store-upgrade-3.17.2(mysql)", run)  # asserts no process of the run survived
    assert not mariadb_servers_in(run), "a MariaDB server outlived the session"
    result = CellResult.from_json(next(run.glob("store-upgrade-3.17.2/mysql*/cell.json")).read_text())
    stages = {s.stage: s for s in result.stages}
    assert done.returncode == 0 and result.status == PASS, [(s.stage, s.status, s.reason) for s in result.stages]
    assert stages["store"].reason.startswith("mysql+pymysql://mlflow@127.0.0.1:")  # an account with no password
    migration = result.upgrade["migration"]
    assert migration["revision_before"] != migration["revision_after"]
    assert all("nothing lost or changed" in stages[s].reason for s in ("to-snapshot", "rollback"))
    assert (Path(result.cell_dir) / "backup" / "mlflow.dump").stat().st_size > 0
    shown = {o["pin"]: o for o in result.upgrade["absence"]}
    assert shown["PyMySQL"]["outcome"] == "needed", shown  # the driver each label's env adds, shown necessary


def test_bench_store_times_db_upgrade_at_sizes_and_the_decision_sizes_the_downtime(tmp_path):
    """`nox -s bench-store` for real at small sizes (the default is 10^4..10^6): stores filled by 1.2.SBD.0,
    upgraded by 3.17.2, timed and fitted; nothing of the servers left; the file the decision reads."""
    need_mariadb()
    results = tmp_path / "results"
    done = subprocess.run([NOX, "-s", "bench-store", "--", "--kind", "sqlite", "--kind", "mysql", "--sizes",
                           "2000,20000"], cwd=ROOT, capture_output=True, text=True, timeout=1700,
                          env=nox_env(tmp_path / "run", ROLLOUT_RESULTS=str(results)))  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert not mariadb_servers_in(results), "a MariaDB server outlived the benchmark"
    found = downtime.read(results, "1.2.SBD.0", "3.17.2")
    for kind in ("sqlite", "mysql"):
        points = found["kinds"][kind]["points"]
        assert [p["metric_rows"] for p in points] == [2000, 20000] and all(p["seconds"] > 0 for p in points)
        assert set(found["kinds"][kind]["fit"]) == {"intercept_s", "per_million_s", "growth"}  # sizes this small: noise
    assert "| mysql | 20,000 | 100 |" in done.stdout
