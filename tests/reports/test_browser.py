"""The HTML report in a real browser: headless Chromium opens a generated report, a real mouse click
on the failed cell shows its reason, and a screenshot is saved next to the report."""

from __future__ import annotations

from pathlib import Path

from browser import Browser
from rolloutcheck.reports import aggregate
from rolloutcheck.spec.results import XFAIL
from synthetic import probe, write_cell

REASON = "server exited with code 1: ModuleNotFoundError: No module named 'sklearn.linear_model._coordinate_descent'"


def test_report_in_a_browser_click_a_failed_cell_shows_its_reason(tmp_path, chromium):
    run = tmp_path / "results" / "runs" / "r1"
    write_cell(run, "1.2.SBD.0", "sklearn_elasticnet_wine", probes=(probe(),))
    write_cell(run, "3.17.2", "sklearn_elasticnet_wine", probes=(probe(status=XFAIL, reason="protocol changed"),))
    write_cell(run, "3.17.2", "h2o_wine", failing="serve", reason=REASON)
    write_cell(run, "1.2.SBD.0", "h2o_wine", probes=(probe(),))
    text, _ = aggregate.summarize(run, selection=["validate-1.2.SBD.0(sklearn_elasticnet_wine)"])
    report = run / "report.html"
    assert f"HTML report: {report}" in text

    browser = Browser(report.as_uri())
    try:
        assert browser.evaluate("document.querySelectorAll('#grid td.cell').length") == 4
        assert browser.evaluate("document.querySelectorAll('#grid td.cell.fail').length") == 1
        assert browser.evaluate("document.getElementById('detail').hidden")  # details load when clicked
        browser.click("#grid td.cell.fail")
        browser.wait_for(f"document.getElementById('detail').innerText.includes('FAIL at serve: ' + {REASON!r})",
                         timeout=10)  # fmt: skip
        shown = browser.evaluate("[...document.querySelectorAll('section.detail')].filter(s => !s.hidden)"
                                 ".map(s => s.innerText)")  # fmt: skip
        assert len(shown) == 1 and f"FAIL at serve: {REASON}" in shown[0]
        assert "serve.log" in shown[0]  # the links to its logs
        shot = browser.screenshot(run / "report.png")
    finally:
        browser.close()
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 10_000


def test_the_decision_banner_leads_from_an_action_to_its_evidence(tmp_path, chromium):
    """The banner is at the top of report.html; a real click on an action's evidence link opens it."""
    from rolloutcheck.reports import decision, html
    from rolloutcheck.spec import layout

    run = tmp_path / "results" / "runs" / "r2"
    seed = probe("seed_pandas_split", status=XFAIL, reason="known break: mlflow 2.0 refuses pandas-split (415)")
    cell = write_cell(run, "3.17.2", "sklearn_elasticnet_wine", probes=(probe("dataframe_split"), seed))
    made = decision.decide(layout.load_cells(run))
    decision.write(run, made)
    report = html.write(run, layout.load_cells(run))
    browser = Browser(report.as_uri())
    try:
        assert browser.evaluate("document.querySelector('#decision #verdict').innerText") == "NO-GO"
        top = browser.evaluate("document.querySelector('#decision').getBoundingClientRect().top")
        assert top < 200  # readable at a glance: above the grid, without scrolling
        assert "client request change" in browser.evaluate("document.querySelector('#decision').innerText")
        browser.screenshot(run / "banner.png")
        browser.click("#decision a.evidence")
        browser.wait_for(f"location.href.includes({Path(cell.cell_dir).name!r})", timeout=10)
        assert browser.evaluate("location.href").rstrip("/").endswith("sklearn_elasticnet_wine")
    finally:
        browser.close()
    assert (run / "banner.png").stat().st_size > 10_000


def test_a_large_report_opens_on_failures_filters_and_loads_one_cells_details(tmp_path, chromium):
    """2,000 cells (copies of a real one): the list opens on the failed cells, the status filter leaves
    only them, and a click loads that cell's details from its folder."""
    from rolloutcheck.reports import bench

    (run,) = bench.synthetic_runs(bench.FIXTURE, tmp_path / "big", 2000, ["1.2.SBD.0", "1.30.1", "2.22.5", "3.17.2"])
    aggregate.summarize(run)
    browser = Browser((run / "report.html").as_uri())
    try:
        first = "document.querySelector('#cells tr.row:not([hidden])')"
        assert browser.evaluate(f"{first}.dataset.css") == "fail"
        assert browser.evaluate("document.querySelectorAll('#cells tr.row:not([hidden])').length") == 500  # a page
        browser.evaluate("(() => { const s = document.querySelector('#filters select[name=css]'); s.value = 'fail';"
                         " s.dispatchEvent(new Event('input', {bubbles: true})); })()")  # fmt: skip
        visible = "[...document.querySelectorAll('#cells tr.row:not([hidden])')]"
        assert browser.evaluate(f"{visible}.length") == 2000 // bench.FAIL_EVERY
        assert browser.evaluate(f"{visible}.every(r => r.dataset.css === 'fail')")
        browser.click("#cells tr.row:not([hidden]) td")
        browser.wait_for("document.getElementById('detail').innerText.includes('FAIL at serve: server never healthy')",
                         timeout=10)  # fmt: skip
        assert "probe.log" in browser.evaluate("document.getElementById('detail').innerText")
        browser.screenshot(run / "large.png")
    finally:
        browser.close()
