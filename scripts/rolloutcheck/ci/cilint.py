"""The CI files and the linters that check them: actionlint (a wheel in the tool's env) for the
GitHub workflows, npm-groovy-lint for the Jenkinsfile, pinned with its whole tree by
scripts/cilint/package-lock.json and installed with `npm ci` into .tools/npm on first use (it runs
CodeNarc on the machine's Java)."""

from __future__ import annotations

import filecmp
import shutil
import subprocess
from pathlib import Path

from rolloutcheck.core import paths
from rolloutcheck.core.steplog import Printer, stderr

PINNED = paths.ROOT / "scripts" / "cilint"  # package.json and package-lock.json
NPM_PREFIX = paths.ROOT / ".tools" / "npm"
LOCK = "package-lock.json"


def workflows() -> list[Path]:
    return sorted((paths.ROOT / ".github" / "workflows").glob("*.y*ml"))


def groovy_lint_command(printer: Printer = stderr, prefix: Path = NPM_PREFIX) -> list[str]:
    """npm-groovy-lint's command, installed from the committed lock when missing or when the lock
    changed; it fails on any warning and runs without its background server (CI runs it once)."""
    installed = prefix / "node_modules" / ".bin" / "npm-groovy-lint"
    if not installed.exists() or not (prefix / LOCK).exists() or not filecmp.cmp(PINNED / LOCK, prefix / LOCK):
        printer(f"installing npm-groovy-lint from {PINNED / LOCK} into {prefix}")
        prefix.mkdir(parents=True, exist_ok=True)
        for name in ("package.json", LOCK):
            shutil.copy2(PINNED / name, prefix / name)
        subprocess.run(["npm", "ci", "--prefix", str(prefix), "--no-audit", "--no-fund", "--loglevel=error"],
                       check=True)  # fmt: skip
    return [str(installed), "--failon", "warning", "--noserver"]
