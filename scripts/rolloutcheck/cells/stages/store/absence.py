"""A store requirement proven by absence: after `mlflow db upgrade` passed with every pin the store
check adds (envs/stores.yaml), the same command again, on the upgraded store, in a copy of the *to*
environment without one pin (and what only it pulled in). It fails there: the pin is needed for this
label, with the failure as proof; it passes: "not needed for <label>", no action. The outcome is kept
per label, lock and pin under .nox/absence/ (beside the environments), so later runs reuse it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from pathlib import Path

from packaging.utils import canonicalize_name

from rolloutcheck.cells.context import CellContext, StoreState
from rolloutcheck.cells.stages.env import process_environ
from rolloutcheck.cells.stages.upgrade.pin import import_names, named_first
from rolloutcheck.core import paths
from rolloutcheck.core.atomic import write_atomic
from rolloutcheck.core.errors import Failure
from rolloutcheck.core.procs import run_logged
from rolloutcheck.core.steplog import last_error_line
from rolloutcheck.envs import backends, install, locks
from rolloutcheck.inputs.stores import StorePin

NEEDED, NOT_NEEDED, UNKNOWN = "needed", "not needed", "not shown"
CACHE = paths.NOX_DIR / "absence"
_NAME = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._\-]*)")


def dropped(lock: Path, pin: str) -> set[str]:
    """The pin's package and every package of the lock that only it (or what it pulled in) needs."""
    found = _NAME.match(pin)
    gone = {canonicalize_name(found[1])} if found else set()
    parents = locks.required_by(lock)
    while True:
        more = {p for p, via in parents.items() if p not in gone and via and via <= gone}
        if not more:
            return gone
        gone |= more


def lock_without(lock: Path, names: set[str]) -> str:
    """The lock's text with the blocks of `names` left out (a block: `name==v \\`, its hashes, its `# via`)."""
    kept, skipping = [], False
    for line in lock.read_text().splitlines():
        pinned = locks.PINNED.match(line)
        if pinned:
            skipping = canonicalize_name(pinned.group(1)) in names
        if not skipping:
            kept.append(line)
    return "\n".join(kept) + "\n"


def _key(lock: Path, pin: str, kind: str, uri: str) -> str:
    """The label's lock, the pin, the store kind and the URL's dialect (`postgresql+psycopg2` names its driver)."""
    dialect = uri.split("://", 1)[0]
    return hashlib.sha256(f"{lock.read_text()}\n{pin}\n{kind}\n{dialect}\nmlflow db upgrade".encode()).hexdigest()[:16]


def checkable(pin: StorePin, store: str) -> bool:
    """A package the check adds (a driver), for this store kind; a version constraint (`sqlalchemy<2.1`)
    is no package to leave out: its absence means another resolution, not shown here."""
    return pin.applies_to(store) and not re.search(r"[<>=!~]", pin.pin)


def run_all(ctx: CellContext, state: StoreState, pins: list[StorePin]) -> list[dict]:
    """Every checkable pin of this label, proven by absence (after `mlflow db upgrade` passed with them)."""
    lock = state.target.lock_file
    if lock is None or not lock.is_file():
        return []
    return [check(ctx, state, pin, lock) for pin in pins if checkable(pin, state.store_kind)]


def check(ctx: CellContext, state: StoreState, pin: StorePin, lock: Path) -> dict:
    """`mlflow db upgrade` of the store under check without `pin`: its outcome, reused when kept."""
    kept = CACHE / ctx.label.name / f"{_key(lock, pin.pin, state.store_kind, state.uri or '')}.json"
    if kept.is_file():
        return json.loads(kept.read_text()) | {"reused": str(kept)}
    names = dropped(lock, pin.pin)
    slug = re.sub(r"[^a-z0-9]+", "-", pin.pin.lower()).strip("-")
    folder = ctx.cell_dir / "absence" / slug
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "requirements.lock").write_text(lock_without(lock, names))
    log = ctx.log(f"absence-{slug}")
    venv = ctx.venv.with_name(f"{ctx.venv.name}-without-{slug}")
    outcome = {"pin": pin.pin, "label": ctx.label.name, "store": state.store_kind, "left_out": sorted(names),
               "log": str(log)}  # fmt: skip
    try:
        backends.UvBackend().create(venv, _python(ctx.prefix), log)
        install.sync(venv, folder / "requirements.lock", log, ctx.label.index_url)
    except Failure as error:
        return outcome | {"outcome": UNKNOWN, "reason": f"the env without it could not be made: {error.reason}"}
    # what the *to* side's processes run with (a server's password included), in the env without the pin
    own = process_environ(dataclasses.replace(ctx, venv=venv), state.target.traits)
    environ = {**state.target.environ, **{k: own[k] for k in ("PATH", "VIRTUAL_ENV")}}
    code, lines = run_logged([str(venv / "bin" / "mlflow"), "db", "upgrade", state.uri], log, environ)
    line = last_error_line("\n".join(lines))[:300]
    installed = import_names(ctx.prefix.glob("lib/python*/site-packages"))  # psycopg2-binary installs psycopg2
    for_want = named_first(line, sorted(names), {n: installed.get(n, []) for n in names}) is not None
    if code == 0:
        outcome |= {"outcome": NOT_NEEDED, "reason": f"mlflow {ctx.label.name} db upgrade passed without it"}
    elif not for_want:  # a failure that is not for want of it shows nothing: not kept
        why = f"mlflow {ctx.label.name} db upgrade failed without it, not for want of it"
        return outcome | {"outcome": UNKNOWN, "without": line, "reason": why}
    else:
        outcome |= {"outcome": NEEDED, "without": line,
                    "reason": f"mlflow {ctx.label.name} db upgrade failed without it (exit {code})"}  # fmt: skip
    write_atomic(kept, json.dumps(outcome, indent=2))
    return outcome


def _python(prefix: Path) -> str:
    cfg = prefix / "pyvenv.cfg"
    found = re.search(r"^version(?:_info)?\s*=\s*(\d+\.\d+)", cfg.read_text() if cfg.is_file() else "", re.M)
    return found[1] if found else "3.11"
