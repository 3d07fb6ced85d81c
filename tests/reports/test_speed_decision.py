"""The speed table and its findings: production's server against each path, judged once, a remedy proven
by more workers, an inconclusive comparison said and not blocking; and the picture's geometry."""

from __future__ import annotations

from rolloutcheck.probes import loadtest
from rolloutcheck.reports import decision, speedplot
from rolloutcheck.reports.decision import Verdict
from rolloutcheck.spec.kinds import UPGRADE
from rolloutcheck.spec.results import PASS, CellResult, StageResult

RULE = loadtest.Rule(1.5, 5)


def row(path: str, before: float, after: list[float], remedy: dict | None = None) -> dict:
    """A speed stage's row: production's p95 `before` in every repeat, the path's `after` per repeat."""
    same = [loadtest.Figures([before] * 20, wall=1.0) for _ in after]
    other = [loadtest.Figures([p95] * 20, wall=1.0) for p95 in after]
    found = {"usecase": "uc", "request": "seed", "path": path} | loadtest.verdict(same, other, RULE)
    return found | ({"remedy": remedy} if remedy else {})


def cell(*rows: dict) -> CellResult:
    stages = [StageResult(s, PASS, "fine") for s in UPGRADE.stages()]
    made = CellResult("3.17.2", "uc", "/r/up", kind="upgrade", from_label="1.2.SBD.0", stages=stages)
    made.upgrade["speed"] = list(rows)
    return made


def test_equal_paths_are_no_finding_and_the_table_has_every_path():
    made = decision.decide([cell(row("retrained", 10, [10, 11, 10]), row("pinned", 10, [9, 9, 9]))])
    assert made.verdict == Verdict.GO and not made.findings
    assert [(r["path"], r["verdict"]) for r in made.speed] == [("retrained", "none"), ("pinned", "none")]
    table = decision.markdown(made)
    assert (
        "## Speed after the rollout" in table
        and "| uc | retrained | seed | 1.2.SBD.0 -> 3.17.2 | 10.0 -> 11.0 ms" in table
    )


def test_a_slower_path_without_a_remedy_blocks_with_its_figures():
    tried = {"outcome": "still slower", "workers": 2, "command": "mlflow models serve -m runs:/x/model -w 2",
             "reason": "seed: regression: p95 10.0 -> 28.0 ms"}  # fmt: skip
    made = decision.decide([cell(row("retrained", 10, [30, 31, 29], tried))])
    (found,) = made.findings
    assert made.verdict == Verdict.NO_GO and found.blocking and found.kind == "speed regression"
    assert found.hits == ["uc (retrained)"] and "p95 10.0 -> 31.0 ms" in found.seen
    assert "still slower" in found.remedy and "size the serving fleet" in found.remedy


def test_a_remedy_by_workers_measured_within_the_rule_is_the_action():
    command = "mlflow models serve -m runs:/x/model -w 2 --env-manager local"
    proven = {"outcome": "proven", "workers": 2, "command": command,
              "reason": "seed: p95 10.0 -> 11.0 ms (x1.10; x1.00-x1.20 over 3 repeats)"}  # fmt: skip
    made = decision.decide([cell(row("as-is", 10, [30, 31, 29], proven))])
    (found,) = made.findings
    assert made.verdict == Verdict.GO_WITH_ACTIONS and not found.blocking
    assert (
        found.remedy
        == "serve uc on 3.17.2 (as-is) with `mlflow models serve -m runs:/x/model -w 2 --env-manager local`"
    )
    assert found.proof.startswith("with 2 workers, against production's server: seed: p95 10.0 -> 11.0 ms")
    assert "(`--workers 2`: proven)" in decision.markdown(made)


def test_a_slower_path_beside_one_within_the_rule_is_that_path_as_a_proven_action():
    tried = {"outcome": "still slower", "workers": 2, "command": "mlflow models serve -m runs:/x/model -w 2",
             "reason": "seed: regression: p95 10.0 -> 38.0 ms"}  # fmt: skip
    slower, pinned = row("retrained", 10, [20, 21, 22], tried), row("pinned", 10, [9, 10, 9])
    made = decision.decide([cell(slower, pinned)])
    (found,) = made.findings
    assert made.verdict == Verdict.GO_WITH_ACTIONS and not found.blocking and found.hits == ["uc (retrained)"]
    assert found.remedy.startswith("take the pinned path for uc on 3.17.2, not retrained: retrained is slower")
    assert "(`mlflow models serve -m runs:/x/model -w 2`: still slower)" in found.remedy
    assert found.proof == f"pinned seed: {pinned['text']} (within the rule)"
    # a path that is itself inconclusive is no proof
    made = decision.decide([cell(slower, row("pinned", 10, [9, 16, 9]))])
    assert made.verdict == Verdict.NO_GO and made.findings[0].blocking


def test_an_inconclusive_comparison_is_said_and_does_not_block():
    made = decision.decide([cell(row("retrained", 10, [20, 12, 21]))])
    assert made.verdict == Verdict.GO and not made.findings
    assert any("inconclusive, not blocking" in n for n in made.notes)


def test_the_id_of_a_speed_finding_is_stable_and_an_acceptance_unblocks_it():
    from rolloutcheck.inputs.acceptances import Acceptance

    slow = cell(row("retrained", 10, [30, 31, 29]))
    first, again = decision.decide([slow]).findings[0], decision.decide([slow]).findings[0]
    assert first.id == again.id
    accepted = decision.decide([slow], [Acceptance(first.id, "platform", "batch scoring, p95 not critical", None)])
    assert accepted.verdict == Verdict.GO_WITH_ACTIONS and accepted.findings[0].accepted


def test_the_picture_puts_both_sides_on_one_scale():
    fast = loadtest.quantiles(loadtest.Figures([float(v) for v in range(1, 101)]))
    slow = loadtest.quantiles(loadtest.Figures([float(3 * v) for v in range(1, 101)]))
    plot = speedplot.geometry({"from": fast, "to": slow}, slower=True)
    production, new = plot["lanes"]
    assert production["p50"] < new["p50"] and new["p95"] <= plot["width"] and new["css"] == "slow"
    assert production["p5"] <= production["p25"] <= production["p50"] <= production["p75"] <= production["p95"]
    assert speedplot.geometry({"from": fast, "to": []}, slower=False) is None


def test_one_action_out_of_its_members_keeps_a_speed_figure_whole():
    """Members of one action say their shared part once; a "; " inside brackets is not a part's end."""
    store = "retrain uc on 3.17.2 (speed: p95 42.3 -> 55.9 ms (x1.32; x1.14-x1.50 over 5 repeats))"
    upgrade = store + "; or pin `numpy==1.23.5` (without it: a; b); library pins that did not work: x"
    joined = decision._joined([store, upgrade, upgrade])
    assert joined == upgrade
    assert decision._joined(["fix it; in cell a", "fix it; in cell b"]) == "fix it; in cell a; in cell b"


def test_an_old_model_that_does_not_serve_is_a_row_of_the_table_and_no_speed_finding():
    said = "the old model as it is does not answer on 3.17.2 (its local-probe failed: see its finding)"
    gone = {"usecase": "uc", "request": "seed", "path": "as-is", "verdict": loadtest.NOT_SERVED, "text": said}
    made = decision.decide([cell(gone, row("retrained", 10, [10, 10, 10]))])
    assert made.verdict == Verdict.GO and not made.findings
    assert "| uc | as-is | seed | 1.2.SBD.0 -> 3.17.2 | - | - | not served: the old model" in decision.markdown(made)


def test_a_path_that_refused_a_request_is_a_row_not_measured_and_never_recommended():
    """Issue 43 item 6: the retrained path was dropped from the table for a non-200 answer, and then taken as
    the way out on the requests it did answer."""
    from types import SimpleNamespace

    from rolloutcheck.cells.stages.upgrade import speed

    ctx = SimpleNamespace(usecase=SimpleNamespace(name="uc"), label=SimpleNamespace(name="3.17.2"))  # stand-in
    refused = speed.not_answered(ctx, "retrained", "records", "HTTP 400")
    assert refused["verdict"] == loadtest.NOT_MEASURED and "answered HTTP 400 to records" in refused["text"]
    tried = {"outcome": "still slower", "workers": 2, "command": "mlflow models serve -m m -w 2", "reason": "x"}
    slower, fine = row("as-is", 10, [30, 31, 29], tried), row("retrained", 10, [10, 10, 10])
    made = decision.decide([cell(slower, fine, refused | {"usecase": "uc"})])
    assert {r["path"] for r in made.speed} == {"as-is", "retrained"} and len(made.speed) == 3  # every path a row
    assert made.verdict == Verdict.NO_GO
    assert not any(f.remedy.startswith("take the retrained path") for f in made.findings)
    unmeasured = next(f for f in made.findings if "records" in f.seen)
    assert unmeasured.blocking and "retrained" in unmeasured.hits[0]
