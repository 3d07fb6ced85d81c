"""uv lock files per (use case, label), committed under envs/<usecase>/<label>/.

A lock records the digest of the inputs it was computed from (envspec.LockInputs). A lock whose
digest no longer matches is stale: validation stops and prints the command that refreshes it,
so versions never change behind a reviewer's back. A missing lock (a label just added) is made.
"""

from __future__ import annotations

import re
import shlex
import subprocess
import tempfile
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

from packaging.utils import canonicalize_name

from rolloutcheck.core import atomic, paths, secrets, tools
from rolloutcheck.core.errors import Failure
from rolloutcheck.envs.spec import EnvSpecError, LockInputs

DIGEST_PREFIX = "# inputs-sha256: "
PLATFORM = "x86_64-unknown-linux-gnu"  # the machines that run cells


class LockState(Enum):
    FRESH = "fresh"
    STALE = "stale"
    MISSING = "missing"


class LockError(Failure):
    """Locking failed; `reason` is one line, the full resolver output is in the log."""


@dataclass(frozen=True)
class LockFiles:
    folder: Path

    @property
    def requirements(self) -> Path:
        return self.folder / "requirements.in"

    @property
    def constraints(self) -> Path:
        return self.folder / "constraints.txt"

    @property
    def lock(self) -> Path:
        return self.folder / "requirements.lock"


def files_for(inputs: LockInputs) -> LockFiles:
    return LockFiles(paths.cell_env_dir(inputs.usecase, inputs.label))


def refresh_command(label: str) -> str:
    return f"nox -s lock-{label}"


def recorded_digest(lock: Path) -> str | None:
    if not lock.is_file():
        return None
    with lock.open() as handle:
        for line in handle:
            if line.startswith(DIGEST_PREFIX):
                return line[len(DIGEST_PREFIX) :].strip()
            if not line.startswith("#"):
                break
    return None


def state(inputs: LockInputs) -> LockState:
    """MISSING, STALE or FRESH; LockError when a local file among the inputs has gone missing."""
    digest = recorded_digest(files_for(inputs).lock)
    if digest is None:
        return LockState.MISSING
    try:
        wanted = inputs.digest()
    except EnvSpecError as error:
        raise LockError(str(error)) from None
    return LockState.FRESH if digest == wanted else LockState.STALE


PINNED = re.compile(r"^([A-Za-z0-9_.\-]+)==([^\s\\;]+)")  # a lock's `name==version \` line


def locked_versions(lock: Path) -> dict[str, str]:
    """Every package of a lock file and its version (canonical names); none when there is no lock."""
    if not lock.is_file():
        return {}
    return {canonicalize_name(m.group(1)): m.group(2) for m in map(PINNED.match, lock.read_text().splitlines()) if m}


_VIA = re.compile(r"^\s*#\s+(?:via\s+)?([A-Za-z0-9][A-Za-z0-9_.\-]*)\s*$")  # `# via numpy` / `#   pandas`


def required_by(lock: Path) -> dict[str, set[str]]:
    """Package -> the packages of the lock that need it (uv's `# via` lines; `-r` inputs left out)."""
    parents: dict[str, set[str]] = {}
    current = None
    for line in lock.read_text().splitlines() if lock.is_file() else ():
        pinned = PINNED.match(line)
        if pinned:
            current = canonicalize_name(pinned.group(1))
            parents.setdefault(current, set())
            continue
        via = _VIA.match(line)
        if current and via and not via.group(1).startswith("-"):
            parents[current].add(canonicalize_name(via.group(1)))
    return parents


def needed_by(lock: Path, roots: set[str]) -> set[str]:
    """The packages of a lock that `roots` need, directly or not (canonical names, roots included), read
    off uv's `# via` annotations; a lock without them gives the roots found in it."""
    if not lock.is_file():
        return set()
    needs: dict[str, set[str]] = {}  # package -> what it depends on
    for package, parents in required_by(lock).items():
        needs.setdefault(package, set())
        for parent in parents:
            needs.setdefault(parent, set()).add(package)
    found, todo = set(), [canonicalize_name(r) for r in roots if canonicalize_name(r) in needs]
    while todo:
        name = todo.pop()
        if name not in found:
            found.add(name)
            todo += sorted(needs.get(name, ()))
    return found


def resolver_lines(output: str) -> list[str]:
    """uv's output without its tree drawing and `cause:` prefixes, blank lines left out."""
    lines = [line.strip(" ╰─▶×│").strip().removeprefix("cause:").strip() for line in output.splitlines()]
    return [line for line in lines if line]


def resolver_reason(output: str) -> str:
    """One line out of uv's resolver error: the first 'Because ...' sentence, or the error line."""
    lines = resolver_lines(output)
    for index, line in enumerate(lines):
        if line.startswith("Because"):
            sentence = [line]
            for more in lines[index + 1 :]:
                if sentence[-1].endswith(".") or more.startswith(("And because", "hint:")):
                    break
                sentence.append(more)
            return " ".join(sentence)
    errors = [line for line in lines if line.lower().startswith(("error", "no solution"))]
    return (errors or lines or ["uv failed without output"])[-1]


def compile_requirements(
    requirements: Path,
    constraints: Path,
    python: str,
    index_url: str | None,
    hashes: bool,
    log: Path | None = None,
) -> subprocess.CompletedProcess:
    """`uv pip compile` for the cell machines' platform: the one way requirements are resolved.

    With `log`, the command (shell-quoted) and uv's output are written to it. The lock is the
    completed process's stdout; a failure is its return code, with uv's reason on stderr.
    """
    command = [
        tools.uv_bin(), "pip", "compile", "--quiet", "--no-header",
        "--python-version", python, "--python-platform", PLATFORM,
        "--constraint", str(constraints), str(requirements),
    ]  # fmt: skip
    if hashes:
        command.append("--generate-hashes")
    if index_url:
        command += ["--extra-index-url", index_url]
    done = subprocess.run(command, capture_output=True, text=True, stdin=subprocess.DEVNULL)
    if log is not None:
        log.parent.mkdir(parents=True, exist_ok=True)
        log.write_text(secrets.redact(f"$ {shlex.join(command)}\n{done.stderr}\n{done.stdout}"))  # an index token
    return done


def lock(inputs: LockInputs, log: Path) -> Path:
    """Resolve `inputs` with uv into a hashed lock file; raise LockError with the reason.

    Inputs are staged in a temporary folder: a label that cannot be resolved leaves nothing
    under envs/. The digest is taken before resolving, so a wheel rebuilt meanwhile leaves the
    lock stale rather than fresh.
    """
    files = files_for(inputs)
    try:
        digest = inputs.digest()
    except EnvSpecError as error:
        raise LockError(str(error)) from None
    with tempfile.TemporaryDirectory() as tmp:
        staged = LockFiles(Path(tmp))
        staged.requirements.write_text(
            f"# Derived from usecases/{inputs.usecase}/conda.yaml and label {inputs.label}; "
            f"regenerated by `{refresh_command(inputs.label)}`.\n" + "\n".join(inputs.requirements) + "\n"
        )
        staged.constraints.write_text(
            f"# Constraints of label {inputs.label} (envs/versions.yaml).\n"
            + "".join(c + "\n" for c in inputs.constraints)
        )
        done = compile_requirements(
            staged.requirements, staged.constraints, inputs.python, inputs.index_url, hashes=True, log=log
        )
        if done.returncode != 0:
            raise LockError(f"unresolvable: {resolver_reason(done.stderr)}", log)
        staged.lock.write_text(
            f"# Lock for use case {inputs.usecase} on label {inputs.label}, Python {inputs.python}.\n"
            f"# Generated by uv; do not edit. Refresh: {refresh_command(inputs.label)}\n"
            f"{DIGEST_PREFIX}{digest}\n" + done.stdout
        )
        files.folder.mkdir(parents=True, exist_ok=True)
        for name in ("requirements", "constraints", "lock"):  # a cell may be reading them (make -j2)
            atomic.copy_atomic(getattr(staged, name), getattr(files, name))
    return files.lock
