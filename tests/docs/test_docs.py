"""The documentation: built strict by the real MkDocs, its reference made from the declarations (every
variable read is declared and documented, every stage and finding kind is in the built pages), the
layout table true, the README a landing page whose links lead into the docs; the built site in Chromium."""

from __future__ import annotations

import ast
import html
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from browser import Browser
from rolloutcheck.core import procs, settings
from rolloutcheck.reports import reference
from rolloutcheck.spec.findings import FINDING_KINDS
from rolloutcheck.spec.kinds import CONFIG, KINDS

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
README_MAX_LINES = 150
GENERATED = ("results/", ".nox/", ".cache/")  # made by runs, never committed
# what the tool sets for its own processes (to find and stop them), never read from a user's shell
SET_FOR_CHILDREN = {procs.MARKER, procs.ROLE, procs.OWNER}


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    """The site as `nox -s docs` builds it: the real mkdocs, strict."""
    out = tmp_path_factory.mktemp("site")
    env = {**os.environ, "PYTHONPATH": str(ROOT / "scripts"), "NO_MKDOCS_2_WARNING": "1"}
    argv = [sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(ROOT / "mkdocs.yml"), "-d", str(out)]
    built = subprocess.run(argv, capture_output=True, text=True, env=env, cwd=ROOT, timeout=300)
    assert built.returncode == 0, built.stdout + built.stderr
    assert "WARNING" not in built.stderr + built.stdout, built.stderr
    return out


def _page(site: Path, name: str) -> str:
    return html.unescape((site / name).read_text())


def test_the_site_builds_strict_with_every_page_and_no_warning(site):
    pages = {p.relative_to(DOCS).with_suffix(".html") for p in DOCS.rglob("*.md")}
    assert pages and all((site / p).is_file() for p in pages)
    assert not (site / "hooks.py").exists()  # the hook builds the site, it is not part of it
    assert "<!-- reference:" not in "".join((site / p).read_text() for p in pages)  # every part was filled


def test_the_reference_pages_hold_every_declared_setting_stage_finding_and_command(site):
    text = _page(site, "reference/settings.html")
    assert all(v.name in text for v in settings.VARIABLES)
    text = _page(site, "reference/stages.html")
    for kind in KINDS.values():
        for variant in kind.pipelines:
            assert all(f"<td>{stage}</td>" in text for stage in kind.stages(variant)), (kind.name, variant)
    text = _page(site, "reference/findings.html")
    assert all(k.key in text and k.title in text for k in FINDING_KINDS.values())
    text = _page(site, "reference/commands.html")
    assert "make rollout LABEL=3.17.2" in text and "nox -s docs" in text and "nox -s rollout-<label>" in text
    assert 'nox -s "validate-<label>(<parameter>)"' in text


def _read_variables() -> set[str]:
    """Every ROLLOUT_*/ENV_* name the tool's code mentions, outside the declaration itself; a name built
    with a label (`f"ROLLOUT_MLFLOW__{key}"`) as its prefix."""
    names = set()
    for path in [*(ROOT / "scripts" / "rolloutcheck").rglob("*.py"), ROOT / "noxfile.py"]:
        source = path.read_text()
        if path.name == "settings.py":
            tree = ast.parse(source)
            declared = next(n for n in tree.body if isinstance(n, ast.AnnAssign) and n.target.id == "VARIABLES")
            lines = source.splitlines()
            source = "\n".join(lines[: declared.lineno - 1] + lines[declared.end_lineno :])
        names |= set(re.findall(r"\"((?:ROLLOUT|ENV)_[A-Z0-9_]+?(?:__)?)(?:\{|\")", source))
    return names - SET_FOR_CHILDREN


def test_every_variable_read_is_declared_and_every_declared_one_is_read():
    declared = {v.name.replace("<LABEL>", "") for v in settings.VARIABLES}
    read = _read_variables()
    assert read - declared == set(), "read but not declared in core/settings.py VARIABLES"
    assert declared - read == set(), "declared but nothing reads it"


def test_every_stage_says_what_it_does_in_its_own_docstring():
    for kind in KINDS.values():
        for steps in kind.pipelines.values():
            for step in steps:
                doc = reference.stage_doc(step)
                assert len(doc) > 20 and not doc.lower().startswith(step.name + ":"), (kind.name, step.name, doc)


def _stage_tables(text: str) -> list[str]:
    """The first column of every Markdown table whose header starts `| stage |`."""
    names, inside = [], False
    for line in text.splitlines():
        if line.startswith("| stage |"):
            inside = True
        elif inside and line.startswith("|") and not line.startswith("|---"):
            names += [n.strip().strip("`") for n in line.split("|")[1].split(",")]
        elif not line.startswith("|"):
            inside = False
    return names


def test_stages_named_in_the_prose_exist():
    known = {CONFIG} | {s for kind in KINDS.values() for v in kind.pipelines for s in kind.stages(v)}
    named = {n for page in DOCS.rglob("*.md") for n in _stage_tables(page.read_text())}
    assert named and named - known == set()


def _layout_paths() -> list[str]:
    rows = [line for line in (DOCS / "reference" / "layout.md").read_text().splitlines() if line.startswith("| ")]
    return [p for row in rows[1:] for p in re.findall(r"`([^`]+)`", row.rsplit(" | ", 1)[1])]  # the "where" column


def test_where_things_are_is_true_and_covers_the_repository():
    listed = _layout_paths()
    optional = {"envs/versions.local.yaml", "envs/rollout.yaml"}
    for path in listed:
        if path.startswith(GENERATED) or path in optional:
            continue
        pattern = re.sub(r"<[^>]+>", "*", path.rstrip("/"))
        assert list(ROOT.glob(pattern)), f"docs/reference/layout.md names {path}, which does not exist"
    committed = subprocess.run(["git", "ls-files"], capture_output=True, text=True, cwd=ROOT, check=True).stdout
    tops = {line.split("/")[0] + ("/" if "/" in line else "") for line in committed.splitlines()}
    packages = {f"scripts/rolloutcheck/{p.name}/" for p in (ROOT / "scripts" / "rolloutcheck").iterdir()
                if (p / "__init__.py").exists()}  # fmt: skip
    text = " ".join(listed)
    missing = [t for t in sorted(tops | packages) if t not in text and t.rstrip("/") not in listed]
    assert missing == [], "not in docs/reference/layout.md"


def test_the_readme_is_a_landing_page_that_leads_into_the_docs():
    readme = (ROOT / "README.md").read_text()
    assert len(readme.splitlines()) <= README_MAX_LINES
    for command in ("make rollout LABEL=3.17.2", "make validate LABEL=1.2.SBD.0", "make test", "nox -s docs"):
        assert command in readme
    links = re.findall(r"\]\(((?:docs/)[^)#]+)", readme)
    assert len(links) >= 8 and all((ROOT / link).exists() for link in links), links
    assert re.findall(r"!\[[^\]]*\]\((docs/[^)]+\.png)\)", readme)  # the report, as the browser saw it


def test_make_help_leads_to_the_decision_first():
    out = subprocess.run(["make", "-s", "help"], capture_output=True, text=True, cwd=ROOT, check=True).stdout
    assert out.splitlines()[0].startswith("make rollout LABEL=")


def test_a_page_asking_for_a_part_nobody_makes_fails_the_build():
    parts = reference.pages(lambda: "")
    assert "| `ROLLOUT_RESULTS` |" in reference.fill("<!-- reference:settings -->", parts)
    with pytest.raises(KeyError, match="no generated reference 'setings'"):
        reference.fill("<!-- reference:setings -->", parts)


def test_sessions_are_grouped_by_shape_from_the_listing():
    listing = """Sessions defined in noxfile.py:

* validate-1.2.SBD.0(h2o_wine) [validate] -> Validate mlflow 1.2.SBD.0 on every use case (mlflow==1.2.0).
- validate-3.17.2(tensorflow) [validate] -> Validate mlflow 3.17.2 on every use case (mlflow==3.17.2).
- rollout-3.17.2 [rollout] -> Is 3.17.2 safe to roll out?
- docs -> Build the documentation site.
"""
    table = reference.sessions(listing).splitlines()
    assert table[2] == ('| `nox -s validate-<label>`, `nox -s "validate-<label>(<parameter>)"` (one) '
                        "| Validate mlflow `<label>` on every use case. | 1.2.SBD.0, 3.17.2 |")  # fmt: skip
    assert table[3].startswith("| `nox -s rollout-<label>` | Is `<label>` safe")
    assert table[4] == "| `nox -s docs` | Build the documentation site. |  |"
    assert len(table) == 5


@pytest.mark.e2e
def test_the_built_site_in_a_browser(site, chromium, tmp_path):
    """A reference page opens from file:// with its theme and no network; its generated table is there."""
    browser = Browser((site / "reference" / "stages.html").as_uri())
    try:
        browser.wait_for("document.querySelectorAll('table').length > 0", timeout=20)
        assert browser.evaluate("document.querySelectorAll('table').length") >= len(KINDS)
        assert browser.evaluate("getComputedStyle(document.querySelector('.md-header')).display") != "none"
        shot = browser.screenshot(tmp_path / "docs-stages.png")
    finally:
        browser.close()
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 10_000
