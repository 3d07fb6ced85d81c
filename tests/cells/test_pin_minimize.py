"""The order in which a proven pin remedy is reduced: the package a failure names first, read by the
modules each distribution installs (a real environment's dist-info), and the failure's own words first."""

from __future__ import annotations

import sys
import sysconfig
from pathlib import Path

from rolloutcheck.cells.stages.upgrade import pin

PINS = ["scipy==1.15.3", "numpy==1.23.5", "pandas==2.3.3", "scikit-learn==1.1.3"]
MODULES = {"scikit-learn": ["sklearn"], "numpy": ["numpy"], "scipy": ["scipy"], "pandas": ["pandas"]}


def test_the_package_the_failure_names_first_is_added_first():
    text = "server exited with code 1: ValueError: numpy.dtype size changed, may indicate binary incompatibility"
    assert pin.named_first(text, PINS, MODULES) == "numpy==1.23.5"


def test_a_module_name_finds_its_distribution():
    text = "AttributeError: Can't get attribute '_gb_losses' on <module 'sklearn.ensemble'> (scipy is fine)"
    assert pin.named_first(text, PINS, MODULES) == "scikit-learn==1.1.3"


def test_a_name_inside_another_word_or_path_part_is_not_a_mention():
    text = "ModuleNotFoundError: No module named 'mypandas_ext'; see site-packages/x.numpyish"
    assert pin.named_first(text, PINS, MODULES) is None


def test_the_reason_comes_before_the_servers_log_read_from_its_last_line(tmp_path):
    log = tmp_path / "serve.log"
    log.write_text("Traceback:\n  File site-packages/pandas/core/frame.py\nImportError: scipy.special broke\n")
    text = pin.failure_text({"reason": "server exited with code 1", "serve_log": str(log)})
    assert pin.named_first(text, PINS, MODULES) == "scipy==1.15.3"  # the exception, not the frame above it


def test_import_names_are_read_off_an_environments_dist_info():
    site = Path(sysconfig.get_paths()["purelib"])
    found = pin.import_names([site])
    assert "yaml" in found["pyyaml"] and "pytest" in found["pytest"], sys.prefix


def test_reduction_grows_by_the_failure_then_drops_each_pin_not_needed_with_a_rule_standin_for_envs(
    tmp_path, monkeypatch
):
    """The order of tries, with `attempt` replaced by a rule (an env needs scikit-learn and numpy pinned):
    building real environments is what the end-to-end upgrade test does."""
    from types import SimpleNamespace

    calls = []

    def rule(ctx, state, n, remedy, record=True):
        pins = remedy.requirements[1:]
        calls.append(pins)
        if "numpy==1.23.5" not in pins:
            reason = "server exited with code 1: ValueError: numpy.dtype size changed"
        elif "scikit-learn==1.1.3" not in pins:
            reason = "seed_pandas_split: HTTP 400: AttributeError: 'str' object has no attribute 'transform'"
        else:
            return {"outcome": pin.PROVEN, "folder": str(tmp_path / n), "reason": "answered as logged"}
        return {"outcome": pin.STILL_FAILS, "reason": reason, "folder": str(tmp_path / n)}

    monkeypatch.setattr(pin, "attempt", rule)
    ctx = SimpleNamespace(label=SimpleNamespace(name="3.17.2", mlflow="mlflow==3.17.2"), venv=tmp_path / "venv")
    remedy = pin.Remedy("model-closure", ["mlflow==3.17.2", "scikit-learn==1.1.3", "numpy==1.23.5"], [])
    proven = {"pins": ["scikit-learn==1.1.3", "numpy==1.23.5", "scipy==1.15.3", "idna==3.21"],
              "added": ["tqdm==4.70.1"], "folder": str(tmp_path / "2-model-closure")}  # fmt: skip
    alone = rule(ctx, None, "1", pin.Remedy("model-libraries", ["mlflow==3.17.2", "scikit-learn==1.1.3"], []))
    calls.clear()
    found = pin.minimize(ctx, None, proven, remedy, ["scikit-learn==1.1.3"], alone)
    assert calls == [["scikit-learn==1.1.3", "numpy==1.23.5"], ["numpy==1.23.5"]], found  # grow, then drop sklearn
    assert [n["pin"] for n in found["needed"]] == ["scikit-learn==1.1.3", "numpy==1.23.5"]
    assert "AttributeError" in found["needed"][0]["without"] and "numpy.dtype" in found["needed"][1]["without"]
