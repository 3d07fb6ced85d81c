"""A platform's size: 2,000 cells (copies of a real cell, reports/fixtures/bench-cell) aggregated in a generous
bound (the benchmark, `nox -s bench-report`, holds the targets), and a merged run's JUnit equal to one run's."""

from __future__ import annotations

import time
from pathlib import Path

from junitparser import JUnitXml

from rolloutcheck.reports import aggregate, bench, merge
from rolloutcheck.spec import layout

LABELS = ["1.2.SBD.0", "1.30.1", "2.22.5", "3.17.2"]


def cases(xml_file: Path) -> tuple[tuple[int, int, int], list[tuple[str, str, str]]]:
    """(tests, failures, skipped) of a JUnit file, and every test case as (suite, class, name, result)."""
    xml = JUnitXml.fromfile(str(xml_file))
    found = sorted((suite.name, case.classname, case.name, ",".join(type(r).__name__ for r in case.result))
                   for suite in xml for case in suite)  # fmt: skip
    return (xml.tests, xml.failures, xml.skipped), found


def test_two_thousand_cells_are_reported_in_seconds_and_open_on_the_failures(tmp_path):
    (run,) = bench.synthetic_runs(bench.FIXTURE, tmp_path / "one", 2000, LABELS)
    started = time.monotonic()
    text, cells = aggregate.summarize(run)
    seconds = time.monotonic() - started
    assert seconds < 120, f"2,000 cells took {seconds:.0f}s (was 181 s before junit was linear)"
    assert len(cells) == 2000 and sum(c.status == "fail" for c in cells) == 2000 // bench.FAIL_EVERY
    (totals, found) = cases(run / "junit.xml")
    assert totals[0] == len(found) == sum(len(c.stages) + len(c.probes) for c in cells)
    assert totals[1] == 2000 // bench.FAIL_EVERY  # one failed stage per failed cell
    page = (run / "report.html").read_text()
    assert len(page) < 2_000_000  # summaries only: the details are in the cells' folders
    first = page.partition('id="cells"')[2].partition('<tr class="row ')[2]
    assert first.startswith("fail")  # what needs attention comes first
    assert all((Path(c.cell_dir) / layout.DETAILS_FILE).is_file() for c in cells)
    assert 'id="grid"' not in page and "are left out above" in page  # too big for a grid: the list remains


def test_a_merged_run_has_the_junit_of_the_same_cells_in_one_run(tmp_path):
    (one,) = bench.synthetic_runs(bench.FIXTURE, tmp_path / "one", 120, LABELS)
    shards = bench.synthetic_runs(bench.FIXTURE, tmp_path / "shards", 120, LABELS, shards=5)
    merged = tmp_path / "merged"
    merge.merge(shards, merged)
    aggregate.summarize(one)
    aggregate.summarize(merged)
    assert cases(merged / "junit.xml") == cases(one / "junit.xml")
    (tests, failures, skipped), found = cases(one / "junit.xml")
    assert tests == len(found) and failures == 120 // bench.FAIL_EVERY and skipped > failures  # + XFAIL probes
