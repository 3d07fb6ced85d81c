"""Re-lock use cases on a label with the chosen backend (what `nox -s lock-<label>` does)."""

from __future__ import annotations

import time

from rolloutcheck.core import paths, secrets
from rolloutcheck.core.errors import ConfigError, shown
from rolloutcheck.core.settings import Settings
from rolloutcheck.core.steplog import Printer, StepLog, stderr
from rolloutcheck.envs import backends, locks
from rolloutcheck.envs import spec as envspec
from rolloutcheck.inputs import stores as storeconfig
from rolloutcheck.inputs import usecases
from rolloutcheck.inputs.registry import Label
from rolloutcheck.spec.results import FAIL, PASS


def lock_label(label: Label, names: list[str], settings: Settings, printer: Printer = stderr) -> list[str]:
    """Re-lock the given use cases on `label` with the chosen backend; one line per failure."""
    try:
        backend = backends.choose(settings.env_backend, settings.environ)
    except backends.BackendError as error:
        return [str(error)]
    failures = []
    steps = StepLog(f"lock {label.name} ({backend.name})", printer)
    logs = settings.results / "lock-logs" / time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    for name in names:
        started = steps.begin(name)
        try:
            case = (
                storeconfig.load().environment
                if name == storeconfig.LOCK_NAME
                else usecases.load(paths.usecase_dir(name))
            )
            lock = backend.lock(case, label, logs / f"{label.name}-{name}.log")
            steps.end(name, started, PASS, shown(lock))
        except (locks.LockError, envspec.EnvSpecError, ConfigError) as error:
            reason = getattr(error, "reason", str(error))
            steps.end(name, started, FAIL, reason)
            failures.append(f"{label.name} x {name}: {reason}")
    if logs.is_dir():
        secrets.scrub(logs)  # what conda-lock and uv wrote: an internal index's token never stays in clear
    return failures
