"""The reference pages of the documentation, made from the declarations so nothing is typed twice:
the settings (core/settings.py `VARIABLES`), every kind's stages (spec/kinds.py, each described by its
stage's own docstring), the finding kinds (spec/findings.py), the nox sessions (`nox -l`) and the make
targets (the Makefile's header). docs/hooks.py puts them where a page says `<!-- reference:NAME -->`.
"""

from __future__ import annotations

import importlib
import inspect
import re
from collections.abc import Callable, Iterable

from rolloutcheck.core import paths
from rolloutcheck.core.settings import VARIABLES
from rolloutcheck.inputs import registry
from rolloutcheck.spec.findings import FINDING_KINDS
from rolloutcheck.spec.kinds import CONFIG, KINDS, Step

MARKER = re.compile(r"<!--\s*reference:([a-z-]+)\s*-->")
STAGES_PACKAGE = "rolloutcheck.cells.stages"
CONFIG_DOC = "the cell's inputs (use case, probes, expectations, label) loaded and validated before any process runs"


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def _table(header: Iterable[str], rows: Iterable[Iterable[str]]) -> str:
    header = list(header)
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_cell(str(c)) for c in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def settings() -> str:
    return _table(("variable", "default", "what"), ((f"`{v.name}`", v.default, v.what) for v in VARIABLES))


def stage_doc(step: Step) -> str:
    """What a step does, in its stage's own words: the first paragraph of the docstring of the module or
    attribute it runs (an instance's `what` where one stage class serves several steps)."""
    module, _, attribute = step.runs.partition(":")
    target = importlib.import_module(f"{STAGES_PACKAGE}.{module}")
    if attribute:
        target = getattr(target, attribute)
    text = getattr(target, "what", None) if not inspect.isclass(target) else None
    text = " ".join((text or inspect.getdoc(target) or "").split("\n\n")[0].split())
    first = re.split(r"(?<=\.)\s", text, maxsplit=1)[0]  # the first sentence
    lead, colon, rest = first.partition(": ")
    named = re.split(r"[ (]", lead)[0]  # a module's docstring starts "<stage name>[ (cells)]: "
    return rest if colon and named in _stage_names() else first


def _stage_names() -> set[str]:
    names = {s.name for kind in KINDS.values() for steps in kind.pipelines.values() for s in steps}
    return names | {n.split("-", 1)[1] for n in names if n.startswith(("from-", "to-"))}


def stages() -> str:
    parts = []
    for kind in KINDS.values():
        for variant, steps in kind.pipelines.items():
            title = f"`{kind.name}-<label>` cells" + (f": {variant}" if variant else "")
            rows = [(CONFIG, "", "", "", CONFIG_DOC)]
            rows += [(s.name, s.side.value, s.branch or "", "yes" if s.breakable else "", stage_doc(s)) for s in steps]
            parts.append(
                f"### {title}\n\n" + _table(("stage", "side", "branch", "known break may cover", "what"), rows)
            )
    return "\n".join(parts)


def findings() -> str:
    rows = ((f"`{k.key}`", k.title, k.remedy, k.proven_by or "nothing can: blocks unless accepted",
             "yes" if k.writable else "")
            for k in FINDING_KINDS.values())  # fmt: skip
    return _table(("kind", "the decision says", "action", "proven by", "a known break may name it"), rows)


SESSION_LINE = re.compile(r"^[*-] (?P<name>\S+?(?:\([^)]*\))?)(?: \[[^\]]*\])? -> (?P<what>.*)$")


def sessions(listing: str) -> str:
    """`nox -l`'s lines, one row per session shape: labels as `<label>`, a use case or store kind as
    `<parameter>`, with the labels it exists for."""
    labels = sorted(registry.load_labels(), key=len, reverse=True)
    by_shape: dict[str, tuple[str, set[str]]] = {}
    for line in listing.splitlines():
        found = SESSION_LINE.match(line.strip())
        if not found:
            continue
        name, what, seen = found["name"], found["what"], set()
        for label in labels:
            if f"-{label}" in name:
                name, what = name.replace(f"-{label}", "-<label>"), what.replace(label, "`<label>`")
                seen.add(label)
                break
        name = re.sub(r"\([^)]*\)$", "(<parameter>)", name)
        what = re.sub(r" \(mlflow[^)]*\)", "", what)
        shape = by_shape.setdefault(name, (what, set()))
        shape[1].update(seen)
    rows = ((_invocation(n), w, ", ".join(sorted(s))) for n, (w, s) in by_shape.items())
    return _table(("session", "what", "labels"), rows)


def _invocation(name: str) -> str:
    """A parametrized session runs all its cells, or one: both forms."""
    whole = name.removesuffix("(<parameter>)")
    return f"`nox -s {whole}`" + (f', `nox -s "{name}"` (one)' if whole != name else "")


def make_targets() -> str:
    """The Makefile's header: the lines `make help` prints."""
    rows = []
    for line in (paths.ROOT / "Makefile").read_text().splitlines():
        if line.startswith("#   "):
            command, _, what = line[4:].partition("  ")
            rows.append((f"`{command.strip()}`", what.strip()))
    return _table(("command", "what"), rows)


def pages(listing: Callable[[], str]) -> dict[str, Callable[[], str]]:
    """Every generated part a page can ask for; `listing` gives `nox -l`'s output (run once, when asked)."""
    return {"settings": settings, "stages": stages, "findings": findings, "make": make_targets,
            "sessions": lambda: sessions(listing())}  # fmt: skip


def fill(markdown: str, parts: dict[str, Callable[[], str]]) -> str:
    """A page with each `<!-- reference:NAME -->` replaced by its part; an unknown NAME is an error (the
    build is strict: a page asking for a part nobody makes must not pass)."""

    def replace(found: re.Match) -> str:
        if found[1] not in parts:
            raise KeyError(f"no generated reference {found[1]!r} (known: {', '.join(parts)})")
        return parts[found[1]]()

    return MARKER.sub(replace, markdown)
