"""Every nox session and CLI verb, as plain functions returning exit codes (noxfile.py and
__main__.py only call these). Exit codes are mapped here and nowhere else:

    0  every cell asked for passed        1  a cell failed or never reported, or a step failed
    2  bad input: settings, registry, arguments, nothing to act on
A rollout decision (decide, rollout) exits 0 GO, 1 NO-GO, 2 BAD INPUT, 10 GO WITH ACTIONS (reports/decision.py).
"""

from __future__ import annotations

import argparse
import json
import shlex
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from rolloutcheck import cells as cell_kinds
from rolloutcheck.cells import pythonmove
from rolloutcheck.cells.lifecycle import CellRequest, print_summary
from rolloutcheck.ci import matrix as runner
from rolloutcheck.ci import selection
from rolloutcheck.core import paths, procs
from rolloutcheck.core.errors import ConfigError, Failure
from rolloutcheck.core.settings import Settings
from rolloutcheck.core.steplog import Printer, stderr
from rolloutcheck.envs import merged as merged_reqs
from rolloutcheck.envs import relock
from rolloutcheck.envs.reader import reader_env
from rolloutcheck.inputs import acceptances, modelselect, preflight, registry, usecases
from rolloutcheck.inputs import production as production_decl
from rolloutcheck.inputs import stores as storeconfig
from rolloutcheck.inputs.production import Production
from rolloutcheck.inputs.registry import Label
from rolloutcheck.probes import curl, migrate
from rolloutcheck.reports import aggregate, bench, decision, html
from rolloutcheck.reports import merge as merging
from rolloutcheck.spec import layout
from rolloutcheck.spec.kinds import KINDS
from rolloutcheck.spec.results import CellResult
from rolloutcheck.stores import downtime, production, trained

OK, FAILED, BAD_INPUT = 0, 1, 2
GO_WITH_ACTIONS = decision.EXIT_CODES[decision.Verdict.GO_WITH_ACTIONS]


@dataclass(frozen=True)
class Tool:
    """Settings and the registry, read and validated once."""

    settings: Settings
    labels: dict[str, Label]
    production: Production

    @property
    def source(self) -> str:
        """Where upgrades start: ROLLOUT_FROM, else `label:` of envs/production.yaml."""
        return self.settings.from_label or self.production.label

    @classmethod
    def load(cls) -> Tool:
        """Raises Failure (SettingsError, RegistryError, ConfigError) with one line."""
        settings = Settings.from_environ()
        found = registry.load(settings)
        return cls(settings, found.labels, production_decl.load(settings.production_file, found.labels))

    def upgrade_labels(self) -> list[str]:
        return [label for label in self.labels if label != self.source]


def _fail(printer: Printer, message: str, code: int = FAILED) -> int:
    printer(f"rolloutcheck: {message}")
    return code


def verdict(cells: Sequence[CellResult], where: Path, printer: Printer = stderr) -> int:
    """The one place a run's cells become an exit code: every cell asked for must have passed."""
    if not cells:
        return _fail(printer, f"{where} holds no cell results")
    failed = [c.title for c in cells if c.status != "pass"]
    if failed:
        return _fail(printer, f"{len(failed)} of {len(cells)} cells failed or never reported: {', '.join(failed)}")
    return OK


# --- one cell -------------------------------------------------------------------------------------


def cell(
    tool: Tool, kind: str, label: str, variant: str, *, python: str | None = None, python_missing: str | None = None,
    venv: Path | None = None, printer: Printer = stderr,
) -> int:  # fmt: skip
    """One cell of any kind; its summary and its label's table so far; 1 when it did not pass. A use case's
    cell gets its environment's place (`.nox/<session>`, made by its env stage with `python`)."""
    if venv is None and KINDS[kind].parameter == "usecase":
        venv = paths.cell_venv(kind, label, variant)
    source = None
    if kind != "validate":
        if tool.source not in tool.labels:
            return _fail(
                printer, f"upgrades start from ROLLOUT_FROM or `label:` in envs/production.yaml; "
                f"{tool.source!r} is no label", BAD_INPUT,
            )  # fmt: skip
        source = tool.labels[tool.source]
    request = CellRequest(
        kind=KINDS[kind], label=tool.labels[label], variant=variant, settings=tool.settings, source=source,
        venv=venv, python=python, python_missing=python_missing, printer=printer,
    )  # fmt: skip
    result = cell_kinds.run(request)
    moved = pythonmove.prove(request, result, cell_kinds.run)  # only when its lock wants a newer Python
    if moved is not None:
        printer(f"python move for {variant}: {moved['outcome']} on Python {moved['python']}")
    print_summary(result, printer)
    table, _ = aggregate.summarize(tool.settings.run_dir, result.label, kind=result.kind)
    print(table, flush=True)
    if result.status != "pass":
        failure = result.failure()
        return _fail(printer, f"{result.title} failed at {failure.stage}: {failure.reason}")
    return OK


def production_models(tool: Tool, printer: Printer = stderr) -> list[str] | None:
    """The ids `models-<label>` is parametrized by, from the copy ROLLOUT_MODELS_FROM names; None when
    it is unset. A copy that cannot be read, or a selection of nothing, is one cell that fails config
    saying so (the decision never reads "no models" as "no breaks")."""
    given = tool.settings.models_from
    if not given:
        return None
    try:
        reader = reader_env(tool.labels[tool.source]) if production.is_server(given) else None
        found, note = production.select(given, modelselect.load(), reader)
    except Exception:  # noqa: BLE001 - never a traceback while nox lists sessions: the cell's config says why
        return [production.NOTHING]
    if note:
        printer(note)
    return [m.id for m in found] or [production.NOTHING]


def models_unset(printer: Printer = stderr) -> int:
    why = ("ROLLOUT_MODELS_FROM is not set: name a copy of production's tracking store (a SQLite file, an mlruns/ "
           "folder or a postgresql:// database); envs/models.yaml says which of its models to check")  # fmt: skip
    return _fail(printer, why, BAD_INPUT)


# --- inputs ---------------------------------------------------------------------------------------


def lock(tool: Tool, labels: list[str], names: list[str], printer: Printer = stderr) -> int:
    """Re-lock the use cases `names` (all when empty) and the store environment on `labels`."""
    known = [*usecases.names(), storeconfig.LOCK_NAME]  # the store check's environment is locked like a use case
    unknown = sorted(set(names) - set(known))
    if unknown:
        return _fail(printer, f"unknown use case(s) {unknown}; known: {known}", BAD_INPUT)
    chosen = [n for n in known if not names or n in names]
    failures = [line for label in labels for line in relock.lock_label(tool.labels[label], chosen, tool.settings,
                                                                          printer)]  # fmt: skip
    return _fail(printer, "could not lock: " + "; ".join(failures)) if failures else OK


def requirements(tool: Tool, label: str, printer: Printer = stderr) -> int:
    """One requirements.txt (and its hashed lock) for all use cases of `label`; 1 on conflicts."""
    try:
        cases = usecases.discover()
    except ConfigError as error:
        return _fail(printer, str(error))
    merged = merged_reqs.merge(tool.labels[label], cases)
    target_dir = tool.settings.results / "requirements" / label
    if not merged.conflicts:
        reason = merged_reqs.resolve(merged, tool.labels[label], lock_to=target_dir / "requirements.lock")
        if reason:
            merged.conflicts.append(f"together unresolvable ({', '.join(cases)}): {reason}")
    target = merged_reqs.write(merged, tool.labels[label], target_dir)
    printer(f"wrote {target} ({len(merged.requirements)} requirements from {len(cases)} use cases)")
    if (target_dir / "requirements.lock").is_file() and not merged.conflicts:
        printer(f"wrote {target_dir / 'requirements.lock'} (resolved, with hashes)")
    for conflict in merged.conflicts:
        printer(f"conflict: {conflict}")
    return (
        _fail(printer, f"{len(merged.conflicts)} conflict(s) between use cases on {label}") if merged.conflicts else OK
    )


def labels(tool: Tool, argv: list[str]) -> int:
    """The registered labels, one per line, to a file (`FILE [--upgrades]`) or stdout."""
    upgrades = "--upgrades" in argv  # only the labels an upgrade can go to (not production)
    rest = [a for a in argv if a != "--upgrades"]
    text = "\n".join(tool.upgrade_labels() if upgrades else tool.labels) + "\n"
    if rest:
        Path(rest[0]).parent.mkdir(parents=True, exist_ok=True)
        Path(rest[0]).write_text(text)
    else:
        print(text, end="")
    return OK


def migrate_probes(files: list[Path], to: int = 2, printer: Printer = stderr) -> int:
    """Write the mlflow `to`.x form of each stored 1.x request beside it."""
    failed = 0
    for path in files:
        try:
            target = migrate.migrate_file(path, to)
        except (migrate.MigrationError, curl.CurlError) as error:
            printer(f"rolloutcheck: {error}")
            failed += 1
            continue
        print(f"{path}: already the {to}.x protocol, unchanged" if target is None else f"{path} -> {target}")
    return FAILED if failed else OK


def migrate_usecases(names: list[str], printer: Printer = stderr) -> int:
    chosen = names or usecases.names()
    return migrate_probes([f for name in chosen for f in sorted(paths.probes_dir(name).glob("*.curl"))], 2, printer)


def cleanup(printer: Printer = stderr) -> int:
    """Stop processes left by runs that were killed (SIGKILL) before they could clean up."""
    stopped = procs.stop_leftovers()
    for line in stopped:
        printer(f"stopped {line}")
    printer(f"{len(stopped)} leftover process(es) stopped")
    return OK


# --- runs -----------------------------------------------------------------------------------------


def report(tool: Tool, argv: list[str], printer: Printer = stderr) -> int:
    """Aggregate a run (`[RUN] [SESSION...]`, default the newest); cells of SESSIONs that never reported fail it."""
    args = list(argv)
    run = Path(args.pop(0)) if args else layout.latest_run(tool.settings)
    if run is None or not run.is_dir():
        return _fail(printer, "no results yet: run `nox -s validate-<label>` first", BAD_INPUT)
    unknown = sorted(a for a in args if layout.kind_and_label(a.removeprefix("validate-"))[1] not in tool.labels)
    if unknown:
        return _fail(
            printer, f"unknown label(s) {unknown}; known: {list(tool.labels)} "
            "(or validate-<label>, upgrade-<label>, store-upgrade-<label>)", BAD_INPUT,
        )  # fmt: skip
    text, found = aggregate.summarize(run, selection=args or None)
    print(text, flush=True)
    return verdict(found, run, printer)


def cells(noxfile: Path, argv: list[str], printer: Printer = stderr) -> int:
    """The cells of a selection as data for CI (`[--label L] [--kind K] [--shard k/N] [--format F] [--output F]`)."""
    parser = selection.selection_parser("nox -s cells --", "the cells of a selection, from `nox -l --json`")
    parser.add_argument("--format", default="json", choices=["json", "github", "lines"])
    parser.add_argument("--output", type=Path, help="write here instead of stdout")
    args = parser.parse_args(argv)
    try:
        text = selection.render(selection.chosen(args, noxfile), args.format)
    except selection.SelectionError as error:
        return _fail(printer, str(error), BAD_INPUT)
    if args.output:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(text)
    else:
        print(text, end="", flush=True)
    return OK


# the run folder's name by the kinds run (else `matrix`)
RUN_PREFIX = {("upgrade",): "upgrades", ("store-upgrade",): "stores", ("models",): "models"}


def matrix(tool: Tool, noxfile: Path, argv: list[str], nox_here: list[str], printer: Printer = stderr) -> int:
    """Run cells one nox session each into one run, with progress (`[--kind K] [--shard k/N] [--jobs J] ...`)."""
    return _matrix(tool, noxfile, argv, nox_here, printer)[0]


def production_covers(tool: Tool, cell: selection.Cell) -> bool:
    """Whether a rollout runs `cell`: production's use cases, and the store checks of the kind production
    keeps plus those it asks for (envs/production.yaml); every models cell ROLLOUT_MODELS_FROM selects."""
    if cell.kind == "store-upgrade":
        return cell.usecase in tool.production.store_checks
    return cell.kind == "models" or tool.production.owns(cell.usecase)


def bad_inputs(tool: Tool, chosen: Sequence[selection.Cell]) -> list[str]:
    """Each repository file the chosen use-case cells read that is unreadable or incomplete, one line each
    (preflight: files only, no process); a rollout stops on them before any cell runs."""
    found: dict[str, None] = {}
    for label, usecase in dict.fromkeys((c.label, c.usecase) for c in chosen if c.kind in ("validate", "upgrade")):
        try:
            preflight.check(tool.labels[label], usecase)
        except ConfigError as error:
            found[str(error)] = None
    return list(found)


def _matrix(
    tool: Tool,
    noxfile: Path,
    argv: list[str],
    nox_here: list[str],
    printer: Printer,
    prefix: str | None = None,
    inputs_first: bool = False,
    keep: Callable[[selection.Cell], bool] = lambda cell: True,
    again: Callable[[selection.Cell], bool] = lambda cell: False,
) -> tuple[int, Path | None]:
    parser = selection.selection_parser("nox -s matrix --", "run the cells of a selection into one run folder")
    parser.add_argument("--jobs", type=int, default=1, help="cells at once (make -jN matrix passes N)")
    parser.add_argument("--nox", help="the nox each cell runs with (make passes its own; default: this one)")
    args = parser.parse_args(argv)
    try:
        chosen = [c for c in selection.chosen(args, noxfile) if keep(c)]
    except selection.SelectionError as error:
        return _fail(printer, str(error), BAD_INPUT), None
    if not chosen:
        return _fail(printer, "the selection holds no cell", BAD_INPUT), None
    if inputs_first:
        bad = bad_inputs(tool, chosen)
        if bad:
            for line in bad:
                printer(f"bad input: {line}")
            return _fail(
                printer, f"{len(bad)} file(s) of the repository to fix first: no cell was run", BAD_INPUT
            ), None
    given = tool.settings.environ.get("ROLLOUT_RUN_DIR")  # make matrix ROLLOUT_RUN_DIR= passes it empty
    prefix = prefix or RUN_PREFIX.get(tuple(args.kind or ()), "matrix")
    run = tool.settings.run_dir if given else layout.new_run(tool.settings, prefix, args.shard)
    printer(f"{len(chosen)} cells into {run}, {args.jobs} at a time; each nox output in {run / layout.SESSIONS_DIR}")
    code, html = runner.run_matrix(chosen, run, shlex.split(args.nox) if args.nox else nox_here, args.jobs, printer,
                                   again)  # fmt: skip
    return (_fail(printer, f"the matrix failed; report: {html}") if code else OK), run


def rollout(
    tool: Tool, label: str, noxfile: Path, argv: list[str], nox_here: list[str], printer: Printer = stderr
) -> int:
    """Every validate cell of `label`, every upgrade and store cell from production to it, into one
    run through the matrix runner; then the decision. Exit code: the decision's (0, 1 or 10), or 2 when a
    file of the repository a cell would read is bad (said in one line each, before any cell runs)."""
    kinds = [a for kind in KINDS for a in ("--kind", kind)]
    # production's own validate cells too: what already fails there is not the rollout's (decision.py)
    alongside = ["--production", tool.source] if tool.source != label else []
    argv = [*kinds, "--label", label, *alongside, *argv]
    code, run = _matrix(tool, noxfile, argv, nox_here, printer, prefix=f"rollout-{label}", inputs_first=True,
                        keep=lambda cell: production_covers(tool, cell),
                        again=lambda cell: cell.kind == "validate" and cell.label == tool.source)  # fmt: skip
    if run is None:
        return code
    return decide(tool, [str(run)], printer)


def decide(tool: Tool, argv: list[str], printer: Printer = stderr) -> int:
    """The rollout decision of a run (`[RUN]`, default the newest), a merged CI run included:
    decision.json and decision.md in the run, printed last. 0 GO, 1 NO-GO, 2 BAD INPUT, 10 GO WITH ACTIONS."""
    run = Path(argv[0]) if argv else layout.latest_run(tool.settings)
    if run is None or not run.is_dir():
        return _fail(printer, "no results yet: run `nox -s rollout-<label>` first", BAD_INPUT)
    try:
        accepted = acceptances.load()
    except ConfigError as error:
        return _fail(printer, str(error), BAD_INPUT)
    found = aggregate.run_cells(run)  # its JUnit and tables are the matrix's or the merge's; the HTML gets the banner
    labels = decision.rollout_labels(found, tool.source)
    previous = decision.previous_decision(run, labels)
    store_pins, problems = (), []
    try:
        store_pins = storeconfig.load().pins
    except ConfigError as error:  # its pins are findings of their own: without them the decision is not whole
        problems.append(f"the decision could not read the stores' pins: {error}")
    problems += [f"label {lab!r} of {n} cell(s) is not in envs/versions.yaml: its requirement changes were not read"
                 for lab, n in _unregistered(found, tool.labels).items()]  # fmt: skip
    notes = [] if tool.settings.models_from else [decision.MODELS_NOT_CHECKED]
    for earlier, newest in layout.flakes(run):  # said, never used: the newest attempt is what counts
        failed = earlier.failure()
        notes.append(f"flake: {newest.title} failed once ({failed.stage if failed else '?'}: "
                     f"{(failed.reason if failed else '')[:160]}) and passed when run again; the second run counts "
                     f"(the first is kept: {earlier.cell_dir})")  # fmt: skip
    timed = lambda source, target: downtime.read(tool.settings.results, source, target)  # noqa: E731 - bench-store
    made = decision.decide(found, accepted, previous=previous, labels=tool.labels, store_pins=store_pins,
                           production=tool.source, problems=problems, notes=notes, bench=timed,
                           declared=declared(tool), needed=needed_cells(tool, labels))  # fmt: skip
    json_file, md_file = decision.write(run, made)
    html.write(run, found)  # the banner at the top of report.html
    print(decision.markdown(made), flush=True)
    for line in decision.bad_input_lines(made):  # each bad file in one line, last: what to fix before anything
        printer(f"bad input: {line}")
    printer(f"decision: {made.verdict} (exit code {made.exit_code}); {md_file}, {json_file}")
    return made.exit_code


def needed_cells(tool: Tool, labels: Sequence[str]) -> list[tuple[str, str, str]]:
    """Every cell the rollout of production to `labels` needs (kind, label, use case or store kind), as
    `nox -s rollout-<label>` would run them: a run holding fewer is partial (reports/decision.py)."""
    owned = tool.production.usecases or tuple(usecases.names())
    models = production_models(tool, printer=lambda line: None) or []
    needed: dict[tuple[str, str, str], None] = {}
    for label in labels:
        if label == tool.source:
            needed |= dict.fromkeys(("validate", label, u) for u in owned)
            continue
        for kind, variants in (("validate", owned), ("upgrade", owned), ("store-upgrade", tool.production.store_checks),
                               ("models", models)):  # fmt: skip
            needed |= dict.fromkeys((kind, label, v) for v in variants)
        needed |= dict.fromkeys(("validate", tool.source, u) for u in owned)
    return list(needed)


def doctor(tool: Tool, printer: Printer = stderr) -> int:
    """What this machine has for production's rollout to every label: one line a check, the install line of
    what is missing; exit 1 when something production's rollout needs is missing."""
    from rolloutcheck import doctor as checkup  # the machine's checks: only this verb needs them

    found = checkup.checks(tool.production, tool.labels.values())
    printer(f"for production {tool.production.shown}; store checks: {', '.join(tool.production.store_checks)}")
    for check in found:
        printer(check.line)
    missing = [c.what for c in found if c.needed and not c.found]
    if missing:
        return _fail(printer, f"{len(missing)} thing(s) the rollout needs are missing: {'; '.join(missing)}")
    printer("everything production's rollout needs is here")
    return OK


def declared(tool: Tool) -> str:
    """The production a decision answers for, as its title names it."""
    if tool.settings.from_label and tool.settings.from_label != tool.production.label:
        return f"{tool.source} (ROLLOUT_FROM; envs/production.yaml declares {tool.production.label})"
    return tool.production.shown


def _unregistered(cells: Sequence[CellResult], labels: dict[str, Label]) -> dict[str, int]:
    """Labels of the run's cells the registry does not know (a run of another checkout), with their count."""
    counts: dict[str, int] = {}
    for cell in cells:
        for label in (cell.label, cell.from_label):
            if label and label not in labels:
                counts[label] = counts.get(label, 0) + 1
    return counts


def merge(tool: Tool, argv: list[str], printer: Printer = stderr) -> int:
    """Merge runs of several machines into a new run (`RUN... [--into DIR] [--expect FILE]`) with its reports."""
    parser = argparse.ArgumentParser(prog="nox -s merge --", description="merge run folders into a new one")
    parser.add_argument("runs", nargs="*", type=Path, help="run folders (of shards, CI jobs, machines)")
    parser.add_argument("--into", type=Path, help="the new run folder (default results/runs/merged-<UTC time>)")
    parser.add_argument(
        "--expect", type=Path, help="the sessions asked for, one per line (`nox -s cells -- --format lines`)"
    )
    args = parser.parse_args(argv)
    if not args.runs and not args.expect:
        return _fail(
            printer, "nothing to merge: give run folders (and --expect FILE to name cells that never reported)",
            BAD_INPUT,
        )  # fmt: skip
    target = args.into or layout.new_run(tool.settings, "merged")
    try:
        chosen = merging.merge(args.runs, target)
    except merging.MergeError as error:
        return _fail(printer, str(error))
    if args.expect:
        chosen += [line.strip() for line in args.expect.read_text().splitlines() if line.strip()]
    text, merged = aggregate.summarize(target, selection=list(dict.fromkeys(chosen)) or None)
    print(text, flush=True)
    return verdict(merged, target, printer)


def cache(tool: Tool, argv: list[str], printer: Printer = stderr) -> int:
    """The trained-model cache: its size (no option), `--keep N` newest entries, or `--clear`."""
    parser = argparse.ArgumentParser(prog="nox -s cache --", description=cache.__doc__)
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--clear", action="store_true", help="remove every kept model")
    group.add_argument("--keep", type=int, metavar="N", help="keep the N newest models, remove the rest")
    args = parser.parse_args(argv)
    if args.keep is not None and args.keep < 1:
        return _fail(printer, "--keep takes a number of models, at least 1 (use --clear to remove them all)", BAD_INPUT)
    folder = tool.settings.model_cache
    if args.clear or args.keep:
        removed = trained.prune(folder, None if args.clear else args.keep)
        printer(f"removed {len(removed)} cache folder(s)")
    print(trained.footer(folder), flush=True)
    return OK


def bench_report(tool: Tool, argv: list[str], printer: Printer = stderr) -> int:
    """The scale benchmark (`--cells N --shards K`): a synthetic run from a real cell; report, merge, decide timed."""
    parser = argparse.ArgumentParser(prog="nox -s bench-report --", description=bench_report.__doc__)
    parser.add_argument("--cells", type=int, default=10_000, help="cells in the synthetic run (default 10000)")
    parser.add_argument("--shards", type=int, default=10, help="shards merged (default 10)")
    parser.add_argument("--no-browser", action="store_true", help="skip the first view in headless Chromium")
    args = parser.parse_args(argv)
    if args.cells < 1 or args.shards < 1:
        return _fail(printer, "--cells and --shards must be at least 1", BAD_INPUT)
    lines = bench.run(tool.settings.results, args.cells, args.shards, list(tool.labels), not args.no_browser)
    print("\n".join(lines), flush=True)
    return OK


def bench_store(tool: Tool, nox: Sequence[str], argv: list[str], printer: Printer = stderr) -> int:
    """Time `mlflow db upgrade` from production's label at three sizes per database kind, and fit it."""
    from rolloutcheck.cells.storecheck import store_venv

    parser = argparse.ArgumentParser(prog="nox -s bench-store --", description=bench_store.__doc__)
    parser.add_argument("--label", default="3.17.2", help="the label upgraded to (default 3.17.2)")
    parser.add_argument("--kind", action="append", choices=downtime.KINDS, help="a database kind (default: all)")
    parser.add_argument("--sizes", default=",".join(map(str, downtime.SIZES)), help="metric rows, comma-separated")
    args = parser.parse_args(argv)
    if args.label not in tool.labels or tool.source not in tool.labels or args.label == tool.source:
        return _fail(printer, f"--label must be a label other than {tool.source}: {', '.join(tool.labels)}", BAD_INPUT)
    try:
        sizes = [int(float(s)) for s in args.sizes.split(",") if s.strip()]
    except ValueError:
        return _fail(printer, f"--sizes must be whole numbers, not {args.sizes!r}", BAD_INPUT)
    target, source = tool.labels[args.label], tool.labels[tool.source]
    envs = (store_venv(target, source), store_venv(target))
    if not all((env / "bin" / "mlflow").exists() for env in envs):  # the store cell builds both from their locks
        printer(f"building the store environments: nox -s 'store-upgrade-{target.name}(sqlite)'")
        code = procs.run_logged(
            [*nox, "-s", f"store-upgrade-{target.name}(sqlite)"],
            tool.settings.results / "bench-store" / "envs.log",
            tool.settings.process_environ(),
        )[0]
        if code != 0 or not all((env / "bin" / "mlflow").exists() for env in envs):
            return _fail(printer, f"could not build the store environments (see {tool.settings.results}/bench-store)")
    work = tool.settings.results / "bench-store" / f"{source.name}-{target.name}"
    found = downtime.run(args.kind or downtime.KINDS, sizes, envs, work, tool.settings.process_environ(), printer)
    found.update({"from": source.name, "to": target.name})
    out = downtime.result_file(tool.settings.results, source.name, target.name)
    out.write_text(json.dumps(found, indent=1))
    print("\n".join(downtime.table(found)) + f"\n\n{out}", flush=True)
    return OK if all("fit" in e for e in found["kinds"].values()) else FAILED


def loaded(work: Callable[[Tool], int], printer: Printer = stderr) -> int:
    """Run `work` with the tool's settings and registry; a broken one is one line and exit code 2."""
    try:
        tool = Tool.load()
    except Failure as error:
        return _fail(printer, str(error), BAD_INPUT)
    return work(tool)
