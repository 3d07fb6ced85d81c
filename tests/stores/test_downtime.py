"""The downtime of `mlflow db upgrade`: the growth fit, and the decision's action from a store cell's
measurement, sized by `nox -s bench-store`'s fit where it ran."""

import pytest

from rolloutcheck.reports import decision
from rolloutcheck.spec.kinds import STORE_UPGRADE
from rolloutcheck.spec.results import PASS, CellResult, StageResult
from rolloutcheck.stores import downtime


def test_a_linear_migration_fits_its_slope_and_growth_one():
    fit = downtime.fit([(10_000, 0.6), (100_000, 1.5), (1_000_000, 10.5)])
    assert fit.per_million_s == pytest.approx(10.0, abs=0.05) and fit.intercept_s == pytest.approx(0.5, abs=0.05)
    assert 0.5 < fit.growth < 1.0  # the fixed start-up makes small stores look sublinear
    assert fit.at(10**7) == pytest.approx(100.5, abs=0.5)
    quadratic = downtime.fit([(10_000, 0.01), (100_000, 1.0), (1_000_000, 100.0)])
    assert quadratic.growth == pytest.approx(2.0, abs=0.01)  # a revision that rewrites more than it reads
    with pytest.raises(ValueError):
        downtime.fit([(10, 1.0)])
    assert downtime.shown(42) == "42 s" and downtime.shown(600) == "10 min"


def store_cell(tmp_path, kind="mysql", seconds=6.7) -> CellResult:
    stages = [StageResult(s, PASS, "fine") for s in STORE_UPGRADE.stages(kind)]
    cell = CellResult("3.17.2", kind, str(tmp_path / kind), kind="store-upgrade", from_label="1.2.SBD.0",
                      mlflow_version="3.17.2", stages=stages)  # fmt: skip
    cell.upgrade = {"migration": {"revision_before": "a", "revision_after": "b", "seconds": seconds},
                    "compared": {"runs": 14, "metric points": 483}}  # fmt: skip
    return cell


def test_every_database_store_cell_asks_to_plan_its_downtime_proven_by_the_measurement(tmp_path):
    made = decision.decide([store_cell(tmp_path)])
    [found] = [f for f in made.findings if f.kind == decision.DOWNTIME]
    assert "6.7 s for 14 runs / 483 metric rows in the generated store" in found.remedy
    assert "run `nox -s bench-store`" in found.remedy and not found.blocking
    assert made.verdict == decision.Verdict.GO_WITH_ACTIONS


def test_a_bench_store_fit_sizes_the_downtime_at_production_scale(tmp_path):
    timed = {"kinds": {"mysql": {"points": [{}, {}, {}], "fit": {"intercept_s": 5.0, "per_million_s": 30.0,
                                                                "growth": 0.9}}}}  # fmt: skip
    made = decision.decide(
        [store_cell(tmp_path)], bench=lambda s, t: timed if (s, t) == ("1.2.SBD.0", "3.17.2") else None
    )
    [found] = [f for f in made.findings if f.kind == decision.DOWNTIME]
    assert "about 35 s for 10^6 and 5 min for 10^7 metric rows (30.0 s per 10^6 rows, growth x^0.9" in found.remedy
    assert "fitted over 3 sizes" in found.proof


def test_a_copy_of_production_is_sized_by_its_own_rows_and_timed_itself(tmp_path):
    cell = store_cell(tmp_path, seconds=42.0)
    cell.upgrade |= {"copy_of": "postgresql://ci@db/prod_copy", "compared": {"runs": 5000, "metric points": 4_000_000}}
    timed = {
        "kinds": {"mysql": {"points": [{}, {}], "fit": {"intercept_s": 3.0, "per_million_s": 10.0, "growth": 1.0}}}
    }
    [found] = [f for f in decision.decide([cell], bench=lambda s, t: timed).findings if f.kind == decision.DOWNTIME]
    assert "measured: 42.0 s for 5000 runs / 4000000 metric rows in the copy of production" in found.remedy
    assert "the fit for the copy's 4000000 metric rows: about 43 s" in found.remedy
