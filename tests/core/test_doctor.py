"""`make doctor` on this machine for real: every check a line, only what production's rollout needs decides."""

from __future__ import annotations

import dataclasses

from rolloutcheck import doctor, entry
from rolloutcheck.core.settings import Settings
from rolloutcheck.inputs import production, registry


def test_the_checks_follow_production_s_declaration_and_a_missing_java_stand_in_fails_it(tmp_path, monkeypatch):
    labels = registry.load_labels()
    seed = production.load(labels=labels)
    found = {c.what.split(",")[0]: c for c in doctor.checks(seed, labels.values())}
    assert "Java" in found and found["Java"].needed  # h2o_wine is one of the seed's use cases
    assert any(k.startswith("Python 3.8") for k in found)  # the sample team project names it (tests add it)
    mysql = next(c for c in found.values() if "MariaDB" in c.what)
    assert not mysql.needed and "apt-get install mariadb-server" in mysql.install  # the seed never had MySQL
    asks = dataclasses.replace(seed, also_check=("mysql",))
    assert next(c for c in doctor.checks(asks, labels.values()) if "MariaDB" in c.what).needed
    monkeypatch.setattr(doctor.install, "java_version", lambda: None)  # a machine without Java: stand-in
    lines = []
    tool = entry.Tool(Settings.from_environ({"ROLLOUT_RESULTS": str(tmp_path)}), labels, seed)
    assert entry.doctor(tool, lines.append) == entry.FAILED
    assert any(line.startswith("MISSING") and "install: apt-get install default-jre-headless" in line for line in lines)
    assert "missing: Java" in lines[-1]
