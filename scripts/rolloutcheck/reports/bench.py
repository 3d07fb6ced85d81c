"""The scale benchmark (`nox -s bench-report -- --cells N`): a synthetic run of N cells made from one real
cell, then `report`, `merge` of it split in shards, and `decide`, each timed as the user runs it (a
process of its own: wall time and peak memory), and the report's first view in headless Chromium.

The synthetic cells are copies of the real cell's cell.json (its stages, probes, speed), spread over
the labels of envs/versions.yaml and numbered use cases; one in FAIL_EVERY fails at `serve` and one in
XFAIL_EVERY has a known break, so failures and findings are there to be shown first. Each copy links
(hard links) the real cell's logs, so details have something to load.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from rolloutcheck.core import paths
from rolloutcheck.spec import layout
from rolloutcheck.spec.results import CELL_FILE, FAIL, SKIP, XFAIL, CellResult

FAIL_EVERY = 20
XFAIL_EVERY = 7
FIXTURE = paths.PACKAGE / "reports" / "fixtures" / "bench-cell"  # a real validate cell (3.17.2), when no run has one


def template_cell(results: Path) -> Path:
    """A real cell folder to copy: the newest passing validate cell under `results`, else the shipped one."""
    found = sorted(results.glob(f"runs/*/*/*/{CELL_FILE}"), key=lambda p: p.stat().st_mtime, reverse=True)
    for path in found[:200]:
        try:
            cell = CellResult.from_json(path.read_text())
        except (OSError, ValueError, TypeError, KeyError):
            continue
        if cell.kind == "validate" and cell.status == "pass" and cell.probes:
            return path.parent
    return FIXTURE


def _variant(template: CellResult, index: int) -> CellResult:
    cell = dataclasses.replace(template, stages=[dataclasses.replace(s) for s in template.stages],
                               probes=[dataclasses.replace(p) for p in template.probes])  # fmt: skip
    if index % FAIL_EVERY == FAIL_EVERY - 1:
        at = next((i for i, s in enumerate(cell.stages) if s.stage == "serve"), len(cell.stages) - 1)
        cell.stages[at] = dataclasses.replace(cell.stages[at], status=FAIL,
                                              reason=f"server never healthy: synthetic failure {index}")  # fmt: skip
        for later in cell.stages[at + 1 :]:
            later.status, later.reason = SKIP, f"skipped: stage {cell.stages[at].stage} failed"
        cell.probes = []
    elif index % XFAIL_EVERY == 0 and cell.probes:
        cell.probes[0] = dataclasses.replace(cell.probes[0], status=XFAIL, reason="known break: synthetic")
    return cell


def synthetic_runs(template_dir: Path, target: Path, cells: int, labels: Sequence[str], shards: int = 1) -> list[Path]:
    """`shards` run folders under `target` holding `cells` cells in all (label-major, like a matrix)."""
    template = CellResult.from_json((template_dir / CELL_FILE).read_text())
    logs = [p for p in (template_dir / "logs").glob("*") if p.is_file()] if (template_dir / "logs").is_dir() else []
    runs = [target / (f"shard-{k + 1}-of-{shards}" if shards > 1 else "run") for k in range(shards)]
    per_label = -(-cells // len(labels))
    for index in range(cells):
        label, number = labels[index // per_label], index % per_label
        run = runs[index % shards]
        folder = run / layout.group_dir("validate", label) / f"uc{number:05d}"
        (folder / "logs").mkdir(parents=True)
        for log in logs:
            os.link(log, folder / "logs" / log.name)
        cell = _variant(template, index)
        old = template.cell_dir
        cell.label, cell.usecase, cell.cell_dir = label, f"uc{number:05d}", str(folder)
        for stage in cell.stages:
            stage.log = stage.log.replace(old, str(folder), 1) if stage.log else stage.log
        for probe in cell.probes:  # the shipped cell names its requests relative to the project
            probe.request = (
                str(paths.ROOT / probe.request)
                if probe.request and not Path(probe.request).is_absolute()
                else probe.request
            )
        cell.write()
    return runs


@dataclass(frozen=True)
class Timing:
    what: str
    seconds: float
    peak_mb: float
    code: int


def timed(what: str, command: list[str], log: Path) -> Timing:
    """Run `command` to its end (output to `log`); its wall time and peak resident memory."""
    started = time.monotonic()
    with log.open("ab") as out:
        env = {**os.environ, "PYTHONPATH": str(paths.PACKAGE.parent)}  # `python -m rolloutcheck` from scripts/
        proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env)
        _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return Timing(what, time.monotonic() - started, usage.ru_maxrss / 1024, proc.returncode)


def first_view(report: Path, chromium: str | None = None) -> tuple[float, float, bool]:
    """Seconds headless Chromium takes to load `report`, run its script and print the DOM (and that less
    an empty page's, i.e. without Chromium's own start), and whether the list opens on failed cells."""
    chromium = chromium or shutil.which("chromium") or "/usr/bin/chromium"
    profile = tempfile.mkdtemp(prefix="bench-chromium-")
    flags = [chromium, "--headless", "--no-sandbox", "--disable-gpu", f"--user-data-dir={profile}", "--dump-dom"]
    blank = report.with_name(".blank.html")
    try:
        blank.write_text("<!DOCTYPE html><html><body>blank</body></html>")
        seconds = []
        for page in (blank, blank, report):  # the first start makes the profile: not counted
            started = time.monotonic()
            done = subprocess.run([*flags, page.as_uri()], capture_output=True, text=True, timeout=300)
            seconds.append(time.monotonic() - started)
    finally:
        blank.unlink(missing_ok=True)
        shutil.rmtree(profile, ignore_errors=True)
    listed = done.stdout.partition('id="cells"')[2]
    first = listed.partition('<tr class="row ')[2][:10]
    return seconds[2], max(seconds[2] - seconds[1], 0.0), first.startswith("fail")


def run(results: Path, cells: int, shards: int, labels: Sequence[str], browser: bool = True) -> list[str]:
    """The benchmark; the lines of its table."""
    template = template_cell(results)
    (results / "bench").mkdir(parents=True, exist_ok=True)  # git-ignored with the rest of results/
    work = Path(tempfile.mkdtemp(prefix=f"report-{cells}-", dir=results / "bench"))
    log = work / "bench.log"
    python = [sys.executable, "-m", "rolloutcheck"]
    started = time.monotonic()
    (one,) = synthetic_runs(template, work / "one", cells, labels)
    shard_runs = synthetic_runs(template, work / "shards", cells, labels, shards)
    built = time.monotonic() - started
    timings = [
        timed(f"report of {cells} cells", [*python, "report", str(one)], log),
        timed(
            f"merge of {shards} shards, {cells} cells",
            [*python, "merge", "--into", str(work / "merged"), *map(str, shard_runs)],
            log,
        ),  # fmt: skip
        timed(f"decide on {cells} cells", [*python, "decide", str(one)], log),
    ]
    report = one / "report.html"
    lines = [f"synthetic run from {template} in {built:.0f}s: {work}", "",
             "| measure | wall | peak memory |", "|---|---|---|"]  # fmt: skip
    lines += [f"| {t.what} | {t.seconds:.1f} s | {t.peak_mb:.0f} MB |" + ("" if t.code in (0, 1, 3) else
              f" (exit {t.code}, see {log})") for t in timings]  # fmt: skip
    size = report.stat().st_size / 1e6 if report.is_file() else float("nan")
    if browser and report.is_file() and (shutil.which("chromium") or Path("/usr/bin/chromium").exists()):
        total, net, shown = first_view(report)
        lines.append(f"| report.html ({size:.1f} MB) in headless Chromium: loaded, script run, DOM out | "
                     f"{total:.1f} s ({net:.1f} s beyond an empty page) | "
                     f"{'opens on the failed cells' if shown else 'failed cells NOT first'} |")  # fmt: skip
    else:
        lines.append(f"| report.html size | {size:.1f} MB | (no chromium: first view not measured) |")
    return lines
