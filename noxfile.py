"""Is this MLflow version safe to roll out? One session per version label and use case.

    nox -l                                           what can be run
    nox -s validate-1.2.SBD.0                        every use case on one label
    nox -s "validate-3.17.2(sklearn_elasticnet_wine)"  one cell
    nox -s lock-3.17.2 / nox -s lock                 refresh locks after changing inputs
    nox -s lock -- xgboost_adult                     ... of some use cases only

Sessions are thin; the logic is the `rolloutcheck` package in scripts/.
"""

import sys
from pathlib import Path

import nox

sys.path.insert(0, str(Path(__file__).parent / "scripts"))

from rolloutcheck import cell, commands, registry, results, usecases  # noqa: E402

nox.needs_version = ">=2026.10.20"
nox.options.default_venv_backend = "uv"
nox.options.reuse_venv = "yes"  # an env is refilled only when its lock changes
nox.options.sessions = []  # nothing by default: say which label to validate

LABELS = registry.load_labels()
USECASES = usecases.discover()
CELLS = []
for _name, _case in USECASES.items():
    _python, _missing = commands.interpreter_for(_case)
    CELLS.append(nox.param(_python, _name, _missing, id=_name))


def _validate(session: nox.Session, usecase: str, python_missing: str | None, label: str) -> None:
    result = cell.run_cell(
        LABELS[label], USECASES[usecase], Path(session.virtualenv.location),
        python_missing=python_missing, printer=session.log,
    )  # fmt: skip
    cell.print_summary(result, session.log)
    table, _ = commands.summarize(results.run_dir(), label)
    print(table, flush=True)
    if result.status == "fail":
        failure = result.failure()
        where = f"{failure.stage}: {failure.reason}" if failure else "a probe failed"
        session.error(f"{label} x {usecase} failed at {where}")


def _lock(session: nox.Session, label: str | None = None) -> None:
    chosen = [LABELS[label]] if label else list(LABELS.values())
    unknown = sorted(set(session.posargs) - set(USECASES))
    if unknown:
        session.error(f"unknown use case(s) {unknown}; known: {sorted(USECASES)}")
    cases = {name: case for name, case in USECASES.items() if not session.posargs or name in session.posargs}
    failures = [line for lab in chosen for line in commands.lock_label(lab, cases, session.log)]
    if failures:
        session.error("could not lock: " + "; ".join(failures))


def _requirements(session: nox.Session, label: str) -> None:
    conflicts = commands.merged_requirements(LABELS[label], USECASES, session.log)
    if conflicts:
        session.error(f"{len(conflicts)} conflict(s) between use cases on {label}")


for _label in LABELS.values():
    _session = nox.parametrize("python,usecase,python_missing", CELLS)(
        lambda session, usecase, python_missing, label=_label.name: _validate(session, usecase, python_missing, label)
    )
    _session.__doc__ = f"Validate mlflow {_label.name} on every use case ({_label.mlflow})."
    nox.session(name=f"validate-{_label.name}", tags=["validate"])(_session)

    _lock_session = lambda session, label=_label.name: _lock(session, label)  # noqa: E731
    _lock_session.__doc__ = f"Refresh the locks of {_label.name} (uv; conda-lock if ENV_BACKEND=conda)."
    nox.session(name=f"lock-{_label.name}", venv_backend="none", tags=["lock"])(_lock_session)

    _requirements_session = lambda session, label=_label.name: _requirements(session, label)  # noqa: E731
    _requirements_session.__doc__ = (
        f"Merge every use case on {_label.name} into one requirements.txt (the seed's step)."
    )
    nox.session(name=f"requirements-{_label.name}", venv_backend="none", tags=["requirements"])(_requirements_session)


@nox.session(venv_backend="none")
def lock(session: nox.Session) -> None:
    """Refresh the locks of every label and use case (uv, or conda-lock if ENV_BACKEND=conda)."""
    _lock(session)


@nox.session(venv_backend="none")
def report(session: nox.Session) -> None:
    """Aggregate a run folder (default: the newest) into junit.xml and summary.md."""
    run = Path(session.posargs[0]) if session.posargs else commands.latest_run()
    if run is None:
        session.error("no results yet: run `nox -s validate-<label>` first")
    text, cells = commands.summarize(run)
    print(text, flush=True)
    if any(c.status == "fail" for c in cells):
        session.error("some cells failed")
