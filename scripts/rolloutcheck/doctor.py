"""`make doctor`: what this machine has for the rollout of production (envs/production.yaml), checked in
seconds before a run that would find out minutes in, from a failed cell. Each check says what it is for
and, when missing, the line that installs it. Only what production's rollout needs decides the exit code;
the rest (the CI lint's npm, the tests' browser) is said, never a failure.
"""

from __future__ import annotations

import platform
import shutil
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from rolloutcheck.core import paths
from rolloutcheck.core.errors import Failure
from rolloutcheck.envs import install, interpreter
from rolloutcheck.inputs import registry, requirements, usecases
from rolloutcheck.inputs.production import Production
from rolloutcheck.stores import mysql
from rolloutcheck.stores import postgres as pgcluster

MIN_FREE_GB = 8  # one label's environments (0.6 to 2 GB each) beside production's, and the uv cache


@dataclass(frozen=True)
class Check:
    what: str  # what it is for
    found: str | None  # what is there (None: missing)
    install: str = ""  # the line that installs it
    needed: bool = True  # production's rollout needs it (else: said only)

    @property
    def line(self) -> str:
        state = "ok" if self.found else ("MISSING" if self.needed else "missing (optional)")
        tail = self.found or (f"install: {self.install}" if self.install else "")
        return f"{state:<20} {self.what}: {tail}"


def _tool(finder: Callable[[], object], error: type[Failure]) -> str | None:
    try:
        return str(finder())
    except error:
        return None


def checks(production: Production, labels: Iterable[registry.Label]) -> list[Check]:
    """Every check of the machine for production's rollout to `labels` (production's label among them)."""
    owned = [usecases.load(paths.usecase_dir(n)) for n in (production.usecases or usecases.names())
             if paths.usecase_dir(n).is_dir()]  # fmt: skip
    found = [Check("Linux on x86_64 (the platform the locks are made for)",
                   f"{platform.system()} {platform.machine()}" if (platform.system(), platform.machine()) ==
                   ("Linux", "x86_64") else None, "a Linux x86_64 machine")]  # fmt: skip
    java = [u.name for u in owned if u.needs_java]
    if java:
        found.append(Check(f"Java, for {', '.join(java)} (h2o starts a JVM)", install.java_version(),
                           "apt-get install default-jre-headless"))  # fmt: skip
    pythons = sorted({p for u in owned for label in labels
                      for p in [u.python_for(requirements.mlflow_version_of(label.mlflow))] if p})  # fmt: skip
    for version in pythons:
        got = interpreter.find(version)
        found.append(Check(f"Python {version}, which a use case's project names", None if got.missing else got.python,
                           f"pyenv install {version} (or uv python install {version})"))  # fmt: skip
    stores = production.store_checks
    found.append(Check("PostgreSQL server programs, for the postgresql store check",
                       _tool(pgcluster.bindir, pgcluster.PostgresError), "apt-get install postgresql",
                       needed="postgresql" in stores))  # fmt: skip
    found.append(Check("MariaDB server programs, for the mysql store check",
                       _tool(lambda: mysql.require() or "mariadbd", mysql.MysqlError), "apt-get install mariadb-server",
                       needed="mysql" in stores))  # fmt: skip
    free = shutil.disk_usage(paths.ROOT).free / 1e9
    found.append(Check(f"free disk for environments (at least {MIN_FREE_GB} GB)",
                       f"{free:.0f} GB free" if free >= MIN_FREE_GB else None,
                       f"free {MIN_FREE_GB - free:.0f} GB (`make clean-envs` removes the built ones)"))  # fmt: skip
    found.append(Check("npm, for `make ci-lint` (the Jenkinsfile's lint)", shutil.which("npm"),
                       "apt-get install npm", needed=False))  # fmt: skip
    found.append(Check("chromium, for the report's browser test", shutil.which("chromium"),
                       "apt-get install chromium", needed=False))  # fmt: skip
    here = sys.version.split()[0]
    found.append(Check(f"this Python ({here}), for the tool's own environment",
                       here if sys.version_info >= (3, 11) else None, "Python 3.11 or newer"))  # fmt: skip
    return found
