"""What an upgrade of the sklearn use case from 1.2.SBD.0 to 3.17.2 must show, asserted on a real cell
(tests/cells/test_e2e_rollout.py's rollout runs it after the production label's validate cell, in one run)."""

from __future__ import annotations

from pathlib import Path

from rolloutcheck.spec.results import PASS, XFAIL, CellResult
from sessions import ROOT


def assert_served_both_ways(result: CellResult, summary: str) -> None:
    """scikit-learn 1.1 pickles (mlflow 1.2's env) fail on 1.9 (3.17.2's env and the model's rebuilt
    one): written down in probes/sklearn_elasticnet_wine/upgrade.yaml, so XFAIL with the real error.
    `summary`: the run's summary.md, which lists the cell."""
    stages = {s.stage: s.status for s in result.stages}
    assert all(stages[s] == PASS for s in ("config", "from-train", "from-tracking", "from-serve", "to-env")), stages
    assert stages["local-serve"] == PASS and stages["model-env-serve"] == PASS, summary[-3000:]
    assert stages["local-probe"] == XFAIL and stages["model-env-probe"] == XFAIL
    probe = next(s for s in result.stages if s.stage == "local-probe")
    assert "AttributeError" in probe.reason and "known break" in probe.reason
    inside = result.upgrade["model_env"]
    assert inside["logged_environment"] == "conda.yaml only"  # mlflow 1.2 logged no python_env.yaml
    # mlflow 1.2 logged `mlflow` unpinned: as of the tests' index date (conftest.py) the rebuild gets 3.18.0,
    # so the label is checked on the same rebuild with mlflow==3.17.2 pinned, and the unpinned one is said
    assert inside["mlflow"] == "3.17.2" and inside["scikit-learn"].startswith("1.")
    assert inside["unpinned"]["mlflow"] == "3.18.0" and inside["unpinned"]["pin"] == "mlflow==3.17.2", inside
    served = next(s for s in result.stages if s.stage == "model-env-serve")
    assert (
        "the model environment got mlflow 3.18.0, not 3.17.2: the model's requirements do not pin it" in served.reason
    )
    assert Path(inside["env"]).is_relative_to(ROOT / ".cache")  # not in $HOME
    assert result.from_label == "1.2.SBD.0" and result.upgrade["from_mlflow"] == "1.2.0"
    # the old model broke, so library pins were tried: each ends proven, not resolvable or still fails
    remedies = {r["name"]: r for r in result.upgrade["pin_remedies"]}
    order = ["model-libraries", "model-closure", "mlflow-in-place", "nearest-production"]
    assert list(remedies) == order[: len(remedies)] and stages["pin-remedy"] == PASS  # fewest changes first
    outcomes = [r["outcome"] for r in remedies.values()]
    assert "proven" not in outcomes[:-1] and (outcomes[-1] == "proven" or len(outcomes) == len(order))
    assert all(r["outcome"] in ("proven", "not resolvable", "still fails") and r["reason"] for r in remedies.values())
    # the proven remedy reduced to the pins each shown necessary: scikit-learn and numpy, not its 20 changes
    proven = remedies[list(remedies)[-1]]
    needed = {n["pin"].split("==")[0]: n["without"] for n in proven["needed"]}
    assert set(needed) == {"scikit-learn", "numpy"}, proven.get("minimized")
    assert "AttributeError" in needed["scikit-learn"] and "numpy" in needed["numpy"]
    assert len(proven["minimized"]["tries"]) <= 3  # the model's own alone was tried already
    assert "mlflow==3.17.2" in remedies["model-libraries"]["requirements"]
    assert any(r.startswith("scikit-learn==1.1") for r in remedies["model-libraries"]["requirements"])
    assert "| 1.2.SBD.0 -> 3.17.2 | sklearn_elasticnet_wine | PASS" in summary
