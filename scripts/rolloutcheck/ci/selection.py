"""Cells as data: every (kind, label, use case) nox can run, from nox's own session list.

`nox -l --json -t validate upgrade store-upgrade` lists one entry per parametrized session, with its
kind as tag and its use case (for store-upgrade: its store kind) in `call_spec`; CI systems (GitHub
Actions' matrix, Jenkins' parallel stages) fan out over this list, and `make matrix SHARD=k/N` runs
a deterministic part of it. The order is
fixed (kind, label and use case in natural order) so every machine computes the same shards.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

from rolloutcheck.core.errors import Failure
from rolloutcheck.spec import kinds
from rolloutcheck.spec.layout import natural_key

KINDS = tuple(kinds.KINDS)  # the cell kinds CI fans out over, as spec/kinds.py declares them
_SHARD = re.compile(r"^(\d+)/(\d+)$")


class SelectionError(Failure, ValueError):
    """A selection or shard the user gave that cannot be honoured (one line)."""


@dataclass(frozen=True)
class Cell:
    session: str  # what `nox -s` runs: `validate-L(U)`
    kind: str
    label: str
    usecase: str

    @property
    def key(self) -> tuple[str, str, str]:
        return self.kind, self.label, self.usecase

    @property
    def slug(self) -> str:
        """A name safe for files and CI job names: `validate-L-U`."""
        return re.sub(r"[^A-Za-z0-9._-]+", "-", f"{self.kind}-{self.label}-{self.usecase}")


def from_nox_json(entries: Iterable[dict]) -> list[Cell]:
    """Cells out of `nox -l --json` entries (sessions without a kind tag or use case are not cells)."""
    cells = []
    for entry in entries:
        kinds = [t for t in entry.get("tags", []) if t in KINDS]
        spec = entry.get("call_spec") or {}
        usecase = spec.get("usecase") or spec.get("store") or spec.get("model")  # a store kind, a model id
        if len(kinds) != 1 or not usecase:
            continue
        label = entry["name"].removeprefix(f"{kinds[0]}-")
        cells.append(Cell(entry["session"], kinds[0], label, usecase))
    return sorted(cells, key=lambda c: (KINDS.index(c.kind), natural_key(c.label), natural_key(c.usecase)))


def nox_list(kinds: Iterable[str], noxfile: Path, nox: list[str] | None = None) -> list[dict]:
    """`nox -l --json -t KIND...` of `noxfile`, run with this Python's nox (whose env has the deps)."""
    command = [*(nox or [sys.executable, "-m", "nox", "--script-mode", "none"]), "-f", str(noxfile), "-l", "--json"]
    done = subprocess.run([*command, "-t", *kinds], capture_output=True, text=True, cwd=noxfile.parent)
    if done.returncode != 0:
        raise SelectionError(f"`{' '.join(command)}` failed: {(done.stderr.strip().splitlines() or ['?'])[-1]}")
    return json.loads(done.stdout or "[]")


def select(
    cells: list[Cell], labels: Iterable[str] = (), usecases: Iterable[str] = (), sessions: Iterable[str] = ()
) -> list[Cell]:
    """The cells matching every filter given (an empty filter keeps all); unknown names are an error,
    so a typo in a CI input never silently selects nothing."""
    labels, usecases, sessions = set(labels), set(usecases), set(sessions)
    for wanted, known, what in (
        (labels, {c.label for c in cells}, "label"),
        (usecases, {c.usecase for c in cells}, "use case"),
        (sessions, {c.session for c in cells} | {c.session.split("(")[0] for c in cells}, "session"),
    ):
        unknown = sorted(wanted - known)
        if unknown:
            raise SelectionError(f"unknown {what}(s) {unknown}; known: {sorted(known, key=natural_key)}")
    return [
        c
        for c in cells
        if (not labels or c.label in labels)
        and (not usecases or c.usecase in usecases)
        and (not sessions or c.session in sessions or c.session.split("(")[0] in sessions)
    ]


def parse_shard(text: str) -> tuple[int, int]:
    """`k/N` with 1 <= k <= N."""
    found = _SHARD.match(text.strip())
    if not found or not 1 <= int(found[1]) <= int(found[2]):
        raise SelectionError(f"shard {text!r}: expected k/N with 1 <= k <= N, e.g. 2/4")
    return int(found[1]), int(found[2])


def shard(cells: list[Cell], k: int, n: int) -> list[Cell]:
    """Shard k of n: with the cells ordered by kind, use case, then label, cell i goes to shard
    (i mod n) + 1. Use case first spreads each use case's cells (h2o and tensorflow are the slow
    ones) over the shards; the union of all shards is every cell exactly once. The shard keeps the
    list's own order."""
    spread = sorted(cells, key=lambda c: (KINDS.index(c.kind), natural_key(c.usecase), natural_key(c.label)))
    chosen = {c.session for i, c in enumerate(spread) if i % n == k - 1}
    return [c for c in cells if c.session in chosen]


def render(cells: list[Cell], fmt: str) -> str:
    """`json`: a list of cells; `github`: a matrix (`{"include": [...]}`) for `fromJSON`;
    `lines`: one session per line (Jenkins, shell loops)."""
    if fmt == "json":
        return json.dumps([asdict(c) | {"slug": c.slug} for c in cells], indent=2) + "\n"
    if fmt == "github":
        return json.dumps({"include": [asdict(c) | {"slug": c.slug} for c in cells]}, separators=(",", ":")) + "\n"
    if fmt == "lines":
        return "".join(f"{c.session}\n" for c in cells)
    raise SelectionError(f"unknown format {fmt!r}: json, github or lines")


def selection_parser(prog: str, description: str) -> argparse.ArgumentParser:
    """Options shared by `nox -s cells` and `nox -s matrix`: which cells, which shard."""
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument(
        "--kind", action="append", choices=KINDS, help="validate (default), upgrade and/or store-upgrade"
    )
    parser.add_argument("--label", action="append", default=[], help="only these labels (repeatable)")
    parser.add_argument("--usecase", action="append", default=[], help="only these use cases (repeatable)")
    parser.add_argument(
        "--session", action="append", default=[], help="only these sessions: validate-L or validate-L(U)"
    )
    parser.add_argument("--shard", help="k/N: the k-th of N deterministic parts (see shard())")
    parser.add_argument(
        "--production", help="also the validate cells of this label (production's) for the use cases chosen"
    )
    return parser


def alongside(listed: list[Cell], picked: list[Cell], production: str) -> list[Cell]:
    """`picked` with production's validate cells of the same use cases first (the old model's side)."""
    usecases = {c.usecase for c in picked if c.kind == "validate"} or {c.usecase for c in picked}
    if production not in {c.label for c in listed}:
        raise SelectionError(f"production's label {production!r} has no validate cells")
    ours = [c for c in listed if c.kind == "validate" and c.label == production and c.usecase in usecases]
    return [*(c for c in ours if c not in picked), *picked]


def chosen(args: argparse.Namespace, noxfile: Path) -> list[Cell]:
    """The cells `args` select, from nox's own list; SelectionError when it cannot be honoured."""
    kinds = args.kind or ["validate"]
    listed = from_nox_json(nox_list(sorted({*kinds, "validate"}) if args.production else kinds, noxfile))
    picked = select([c for c in listed if c.kind in kinds], args.label, args.usecase, args.session)
    if args.production:
        picked = alongside(listed, picked, args.production)
    if args.shard:
        picked = shard(picked, *parse_shard(args.shard))
    return picked
