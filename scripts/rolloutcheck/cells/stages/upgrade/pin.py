"""pin-remedy: when the old model fails in the *to* label's environment, serve it in remedy environments and ask
production's requests again, so the decision can offer a library pin that is shown to work.

Tried in order, fewest changes first, until one is proven; each resolved with uv for the *to* env's Python:
  1. model-libraries: the *to* label's mlflow plus the library versions the model itself recorded
     (its logged requirements.txt, else the pinned dependencies of its conda.yaml);
  2. model-closure: those, plus what they need at its production version (numpy and scipy under
     scikit-learn, read off the production lock's `# via` lines), unpinned where the new mlflow
     cannot take it: a pickle breaks on the numpy it was built against, which no model records;
  3. mlflow-in-place: the production environment's lock with only mlflow replaced by the *to*
     label's (what "upgrade mlflow in place" means);
  4. nearest-production: the model's libraries and every package of the production lock at its
     production version, except those the new mlflow cannot take (unpinned, one uv conflict at a
     time): a model records scikit-learn but not the numpy it was built against, and a 1.x
     pyfunc wrapper records neither tensorflow nor xgboost.
A proven remedy's pins are the versions its lock changes against the *to* label's own lock (and it adds).
Then they are reduced (minimize): grown from the model's own libraries by the package each failure
names first, then each kept pin removed in turn and kept only when the remedy fails without it; the
decision shows only those (`needed`, each with the failure seen without it), bounded by MINIMIZE_SECONDS.
Each ends `proven` (every request answered as logged), `not resolvable` (uv's reason) or
`still fails` (the error); the outcome is recorded in the cell's `upgrade.pin_remedies`. Trying is
not checking: the stage passes whatever the outcome, and fails only when it cannot try at all.
The environments live beside nox's (`<session env>-remedy-<n>`, never in the results folder).
"""

from __future__ import annotations

import dataclasses
import re
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import yaml

from rolloutcheck.cells.context import CellContext, UpgradeState
from rolloutcheck.cells.stages import serve
from rolloutcheck.cells.stages.env import process_environ
from rolloutcheck.cells.stages.upgrade import speed
from rolloutcheck.cells.stages.upgrade.oldmodel import logged_model_dir
from rolloutcheck.cells.stages.upgrade.replay import answers, in_protocol_of, production_requests
from rolloutcheck.core import net, paths
from rolloutcheck.core.errors import ConfigError, Failure
from rolloutcheck.drivers import serving
from rolloutcheck.envs import backends, install, locks
from rolloutcheck.envs import spec as envspec
from rolloutcheck.inputs import projects
from rolloutcheck.probes import loadtest, migrate
from rolloutcheck.spec.results import PASS, StageResult

NAME = "pin-remedy"
# the old model in the new label's own environment; when that works, serving it so is the remedy
# for a broken rebuilt environment (model-env-*), and no pins are needed
BROKEN = ("local-serve", "local-probe")
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._\-]*(?:\[[^\]]*\])?)\s*==\s*([^\s;\\]+)")
PROVEN, NOT_RESOLVABLE, STILL_FAILS = "proven", "not resolvable", "still fails"
CONFLICT = re.compile(r"\b([A-Za-z0-9][A-Za-z0-9._\-]*)(?:\[[^\]]*\])?(?:\{[^}]*\})?==\d")  # `gunicorn{...}==27.0.1`
RELAX_ROUNDS = 25  # bounded: each round drops the production pins uv names in its conflict
MINIMIZE_SECONDS = 150.0  # the reduction's own budget (each try: lock, install, serve, ask): ~30 s each
MINIMIZE_TRIES = 6


def describe(ctx: CellContext) -> str:
    return f"if the old model fails on {ctx.label.name}: serve it with library pins that might work"


def model_libraries(model_dir: Path) -> list[str]:
    """The pinned libraries the model recorded (mlflow itself left out): requirements.txt, else conda.yaml."""
    found = []
    requirements = model_dir / "requirements.txt"
    if requirements.is_file():
        found = [line.strip() for line in requirements.read_text().splitlines() if PIN.match(line.strip())]
    elif (model_dir / "conda.yaml").is_file():
        try:
            env = projects.read_conda(model_dir / "conda.yaml")
        except ConfigError:  # a model's conda.yaml that is not a plain environment pins nothing we can read
            return []
        names = yaml.safe_load(paths.CONDA_TO_PYPI.read_text()) or {}
        converted = [envspec.conda_to_pip(spec, names) for spec in env.conda]
        found = [r for r in [*converted, *env.pip] if r and PIN.match(r)]
    return [r for r in found if not envspec.is_mlflow(r)]


def lock_pins(lock_file: Path) -> list[str]:
    """`name==version` of every package in a hashed lock, mlflow (and its split-off parts) left out."""
    return [f"{name}=={version}" for name, version in locks.locked_versions(lock_file).items()
            if name not in ("mlflow", "mlflow-skinny", "mlflow-tracing")]  # fmt: skip


@dataclass(frozen=True)
class Remedy:
    name: str
    requirements: list[str]  # the *to* label's mlflow first
    constraints: list[str]  # the *to* label's own constraints
    relaxable: frozenset[str] = frozenset()  # production pins uv may unpin when they conflict with the new mlflow


def remedies(ctx: CellContext, state: UpgradeState, model_dir: Path) -> list[Remedy]:
    libraries = model_libraries(model_dir)
    tried = [Remedy("model-libraries", [ctx.label.mlflow, *libraries], list(ctx.label.constraints))]
    if state.source.lock_file is not None and state.source.lock_file.is_file():
        production = lock_pins(state.source.lock_file)
        named = {_name(r) for r in libraries}
        needed = locks.needed_by(state.source.lock_file, named) - named
        closure = [p for p in production if _name(p) in needed]
        if closure:
            tried.append(Remedy("model-closure", [ctx.label.mlflow, *libraries, *closure], list(ctx.label.constraints),
                                frozenset(_name(p) for p in closure)))  # fmt: skip
        tried.append(Remedy("mlflow-in-place", [ctx.label.mlflow, *production], list(ctx.label.constraints)))
        kept = [p for p in production if _name(p) not in named]  # the model's own pins come first
        tried.append(Remedy("nearest-production", [ctx.label.mlflow, *libraries, *kept], list(ctx.label.constraints),
                            frozenset(_name(p) for p in kept)))  # fmt: skip
    return tried


def _name(requirement: str) -> str:
    found = PIN.match(requirement) or re.match(r"^([A-Za-z0-9][A-Za-z0-9._\-]*)", requirement)
    return re.sub(r"[-_.]+", "-", found[1].split("[")[0]).lower() if found else requirement


def uv_reason(stderr: str) -> str:
    """uv's resolver reason with its conclusion (`Because ... And because ... unsatisfiable`)."""
    because = [line for line in locks.resolver_lines(stderr) if line.startswith(("Because", "And because"))]
    return " ".join(because)[:600] if because else locks.resolver_reason(stderr)


def resolve(ctx: CellContext, remedy: Remedy, folder: Path, log: Path) -> tuple[str | None, list[str]]:
    """Compile the remedy's lock into `folder`; (uv's reason when it cannot, the production pins relaxed).
    A relaxable production pin uv names in a conflict is kept as a bare name (the package stays, at a
    version the new mlflow can take), one round of conflicts at a time; the model's own pins never are."""
    requirements, relaxed = list(remedy.requirements), []
    for _ in range(RELAX_ROUNDS):
        (folder / "requirements.in").write_text("\n".join(requirements) + "\n")
        (folder / "constraints.txt").write_text("\n".join(remedy.constraints) + "\n")
        done = locks.compile_requirements(folder / "requirements.in", folder / "constraints.txt",
                                          python_of(ctx.prefix), ctx.label.index_url, hashes=True, log=log)  # fmt: skip
        if done.returncode == 0:
            (folder / "requirements.lock").write_text(done.stdout)
            return None, relaxed
        named = ({_name(m) for m in CONFLICT.findall(done.stderr)} & remedy.relaxable) - set(relaxed)
        if not named:
            return uv_reason(done.stderr), relaxed
        relaxed += sorted(named)
        requirements = [_name(r) if _name(r) in named else r for r in requirements]
    return f"still unresolvable after relaxing {RELAX_ROUNDS} rounds of production pins", relaxed


def python_of(prefix: Path) -> str:
    """The `X.Y` of an environment's Python, from its pyvenv.cfg (3.11 when it says none)."""
    cfg = prefix / "pyvenv.cfg"
    found = re.search(r"^version(?:_info)?\s*=\s*(\d+\.\d+)", cfg.read_text() if cfg.is_file() else "", re.M)
    return found[1] if found else "3.11"


def attempt(ctx: CellContext, state: UpgradeState, n: int | str, remedy: Remedy, record: bool = True) -> dict:
    """One remedy environment tried: locked, installed, the old model served, production's requests asked.
    `record`: a changed request it answers is a proven migration (the reduction's tries do not add them again)."""
    name = remedy.name
    folder = ctx.cell_dir / "remedies" / f"{n}-{name}"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "requirements.in").write_text("\n".join(remedy.requirements) + "\n")
    outcome = {"name": name, "requirements": remedy.requirements, "folder": str(folder)}
    log = ctx.log(f"{NAME}-{n}")
    reason, dropped = resolve(ctx, remedy, folder, log)
    if dropped:
        outcome["relaxed"] = dropped  # production pins the new mlflow cannot take, left to uv
    if reason is not None:
        return outcome | {"outcome": NOT_RESOLVABLE, "reason": reason, "log": str(log)}
    venv = ctx.venv.with_name(f"{ctx.venv.name}-remedy-{n}")
    server = None
    try:
        backends.UvBackend().create(venv, python_of(ctx.prefix), log)  # uv: remedies are PyPI pins
        install.sync(venv, folder / "requirements.lock", log, ctx.label.index_url)
        remedy_ctx = dataclasses.replace(ctx, venv=venv)
        environ = process_environ(remedy_ctx, state.target.traits)
        command = serving.serve_command(venv, logged_model_dir(state), state.target.traits.local_env_flags)
        server = serve.start(command, ctx.launch(f"{NAME}-{n}-serve", environ), ctx.timeouts.model_env)
        found = answers(ctx, state, server, log)
    except Failure as error:
        return outcome | {"outcome": STILL_FAILS, "reason": error.reason, "log": str(log),
                          "serve_log": str(ctx.log(f"{NAME}-{n}-serve"))}  # fmt: skip
    finally:
        if server is not None:
            server.stop()
    failed = [f"{a.spec.name}: {a.reason}" for a in found if a.verdict != PASS]
    for answer in found if record else ():  # a changed request answered as logged: its new form is proven too
        if answer.must_change and answer.verdict == PASS:
            state.result.upgrade.setdefault("migrations", []).append({
                "probe": answer.spec.name, "file": str(answer.spec.request_file),
                "curl": migrate.as_curl(answer.request),
                "proof": f"HTTP 200 from mlflow {ctx.label.name} (remedy environment {name}), predictions equal the "
                         "as-logged answers",
            })  # fmt: skip
    if failed:
        return outcome | {"outcome": STILL_FAILS, "reason": "; ".join(failed)[:400], "log": str(log)}
    pins, added = changes(folder / "requirements.lock", state.target.lock_file, remedy.requirements[1:])
    return outcome | {"outcome": PROVEN, "pins": pins, "added": added, "log": str(log), "venv": str(venv),
                      "reason": f"{len(found)} production request(s) answered as logged"}  # fmt: skip


def changes(remedy_lock: Path, target_lock: Path, first: list[str]) -> tuple[list[str], list[str]]:
    """What a remedy env holds that the *to* label's own env does not: (versions changed, the model's
    libraries first; packages added)."""
    target = {_name(p): p for p in lock_pins(target_lock)}
    held = {_name(p): p for p in lock_pins(remedy_lock)}
    order = [_name(r) for r in first]
    changed = sorted((p for n, p in held.items() if n in target and target[n] != p),
                     key=lambda p: (order.index(_name(p)) if _name(p) in order else len(order), p))  # fmt: skip
    return changed, sorted(p for n, p in held.items() if n not in target)


def pinned_speed(ctx: CellContext, state: UpgradeState, proven: dict) -> list[dict]:
    """The pinned path's speed: the old model served again in the least remedy environment, against the
    *from* server, as the speed stage measures the other paths (a regression must not hide behind pins)."""
    if state.source.server is None:
        return []
    venv = Path(proven.get("minimal_venv") or proven["venv"])
    environ = process_environ(dataclasses.replace(ctx, venv=venv), state.target.traits)
    command = serving.serve_command(venv, logged_model_dir(state), state.target.traits.local_env_flags)
    server = serve.start(command, ctx.launch(f"{NAME}-speed-serve", environ), ctx.timeouts.model_env)
    try:
        to_version = state.target.result.mlflow_version
        sides = {spec.name: {speed.FROM: spec.request.for_server(net.HOST, state.source.server.port),
                             speed.PINNED: in_protocol_of(spec, to_version)[0].for_server(net.HOST, server.port)}
                 for spec in production_requests(ctx, state.source.result.mlflow_version)}  # fmt: skip
        return speed.measure(ctx, sides)
    finally:
        server.stop()


def run(ctx: CellContext, state: UpgradeState, record: StageResult) -> None:
    state.target.need("traits", "environ")
    broken = [s.stage for s in state.result.stages if s.stage in BROKEN and s.status != PASS]
    if not broken:
        record.reason = f"not needed: the old model answered as logged on {ctx.label.name}"
        return
    candidates = remedies(ctx, state, Path(logged_model_dir(state)))
    tried = []
    for n, remedy in enumerate(candidates, 1):  # fewest changes first: the first that works is the remedy
        tried.append(attempt(ctx, state, n, remedy))
        if tried[-1]["outcome"] == PROVEN:
            break
    if tried[-1]["outcome"] == PROVEN:  # the model's own libraries alone, when tried first, start the reduction
        own = candidates[0].requirements[1:]  # model-libraries: the model's own, tried alone first
        alone = tried[0] if len(tried) > 1 else None
        tried[-1] |= minimize(ctx, state, tried[-1], candidates[len(tried) - 1], own, alone)
        try:
            rows = pinned_speed(ctx, state, tried[-1])
        except Failure as error:  # measured or not, the pins are proven: the speed is said, not hidden
            rows = [{"usecase": ctx.usecase.name, "request": "*", "path": speed.PINNED,
                     "verdict": loadtest.NOT_MEASURED, "text": error.reason}]  # fmt: skip
        tried[-1]["speed"] = rows
        state.result.upgrade.setdefault("speed", []).extend(rows)
    state.result.upgrade["pin_remedies"] = tried
    record.details["remedies"] = tried
    record.reason = "; ".join(f"{t['name']}: {t['outcome']}" for t in tried) + f" (after {', '.join(broken)} broke)"


def import_names(site_packages: Iterable[Path]) -> dict[str, str]:
    """Distribution (normalized) -> the top-level modules it installs, read off an env's dist-info."""
    found: dict[str, set[str]] = {}
    for dist in metadata.distributions(path=[str(p) for p in site_packages]):
        tops = (dist.read_text("top_level.txt") or "").split()
        tops += [f.parts[0].removesuffix(".py") for f in dist.files or () if len(f.parts) > 1 or f.suffix == ".py"]
        name = _name(dist.metadata["Name"] or "")
        found.setdefault(name, set()).update(t for t in tops if t.isidentifier() and not t.endswith("-info"))
    return {name: sorted(tops) for name, tops in found.items()}


def named_first(text: str, candidates: Iterable[str], modules: Mapping[str, Iterable[str]]) -> str | None:
    """The candidate pin whose package (or a module it installs) the failure text names first."""
    best: tuple[int, str] | None = None
    for pin in candidates:
        name = _name(pin)
        for word in {name, name.replace("-", "_"), *modules.get(name, ())}:
            hit = re.search(rf"(?<![\w.]){re.escape(word)}\b", text)
            if hit and (best is None or hit.start() < best[0]):
                best = (hit.start(), pin)
    return best[1] if best else None


def failure_text(outcome: dict) -> str:
    """What a failed try said, the most telling first: its reason, then its server's log from the last
    line up (a traceback's exception before the frames; the install log's package list is left out)."""
    path = Path(outcome["serve_log"]) if outcome.get("serve_log") else None
    tail = path.read_text(errors="replace").splitlines()[-80:] if path is not None and path.is_file() else []
    return "\n".join([outcome.get("reason", ""), *reversed(tail)])


def _first_line(outcome: dict) -> str:
    return (outcome.get("reason") or "?").splitlines()[0][:200]


def minimize(
    ctx: CellContext, state: UpgradeState, proven: dict, remedy: Remedy, own: list[str], alone: dict | None = None
) -> dict:
    """The least pins of a proven remedy: grown from the model's own libraries (`own`; `alone`: that set's
    try, when already made) by the package each failure names first, then each pin removed in turn and
    kept only when the old model fails without it (a set already tried is not tried again).
    Returns `needed` ([{pin, without}]) when it reduced within its budget, else why it did not."""
    every = [*proven.get("pins", []), *proven.get("added", [])]
    started, tries = time.monotonic(), []
    if len(every) <= 1:  # one pin: the broken local-probe is the failure without it
        return {"needed": [{"pin": p, "without": f"the old model fails on {ctx.label.name} as it is"} for p in every]}
    named = {_name(r) for r in own if PIN.match(r)}
    kept = [p for p in every if _name(p) in named]
    venv = ctx.venv.with_name(f"{ctx.venv.name}-remedy-{Path(proven['folder']).name.split('-')[0]}")
    modules = import_names(venv.glob("lib/python*/site-packages"))
    seen: dict[frozenset[str], dict] = {frozenset(kept): alone} if alone is not None else {}
    seen[frozenset()] = {"outcome": STILL_FAILS, "reason": f"the old model fails on {ctx.label.name} as it is"}

    def works(pins: list[str]) -> dict:
        if frozenset(pins) not in seen:
            name = f"least-{len(tries) + 1}"
            least = dataclasses.replace(
                remedy, name=name, requirements=[ctx.label.mlflow, *pins], relaxable=frozenset()
            )
            tried = attempt(ctx, state, name, least, record=False)
            tries.append({"pins": pins, "outcome": tried["outcome"], "reason": _first_line(tried)})
            seen[frozenset(pins)] = tried
        return seen[frozenset(pins)]

    def spent() -> bool:
        return len(tries) >= MINIMIZE_TRIES or time.monotonic() - started > MINIMIZE_SECONDS

    def given_up(why: str) -> dict:
        return {"minimized": {"tries": tries, "seconds": round(time.monotonic() - started, 1), "why": why}}

    last = works(kept) if frozenset(kept) in seen or not spent() else None
    while last is not None and last["outcome"] != PROVEN:  # grow by what the failure names first
        grown = named_first(failure_text(last), [p for p in every if p not in kept], modules)
        if grown is None:
            return given_up(f"not reduced: the failure names no pin ({_first_line(last)})")
        kept.append(grown)
        last = None if spent() else works(kept)
    if last is None:
        return given_up("not reduced within its budget")
    without = {}
    for pin in list(kept):  # necessary: the old model fails without it
        if len(kept) == 1 and frozenset() in seen:
            without[pin] = _first_line(seen[frozenset()])
            continue
        rest = [p for p in kept if p != pin]
        if frozenset(rest) not in seen and spent():
            return given_up("not reduced within its budget: necessity not shown for every pin")
        tried = works(rest)
        if tried["outcome"] == PROVEN:
            kept, last = rest, tried
        else:
            without[pin] = _first_line(tried)
    needed = [{"pin": p, "without": without[p]} for p in kept]
    return {"needed": needed, "minimal_venv": last.get("venv"), "minimal_folder": last.get("folder"),
            "minimized": {"tries": tries, "seconds": round(time.monotonic() - started, 1)}}  # fmt: skip
