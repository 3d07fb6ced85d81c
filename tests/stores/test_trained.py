"""Trained models kept by their inputs: what changes the key, a store copied and its paths rewritten,
a damaged entry set aside (never used), two cells storing one key at once, housekeeping."""

from __future__ import annotations

import json
import multiprocessing
import shutil
import sqlite3
from pathlib import Path

import pytest

from rolloutcheck.stores import trained

ROOT = Path(__file__).resolve().parents[2]


def usecase_copy(tmp_path: Path) -> Path:
    folder = tmp_path / "uc"
    shutil.copytree(ROOT / "usecases" / "sklearn_elasticnet_wine", folder)
    return folder


def inputs_of(folder: Path, **changed) -> dict:
    base = {"schema": 1, "lock": "L1", "usecase": trained.folder_digest(folder), "params": {"alpha": 0.5},
            "backend": "uv", "mlflow": "3.17.2", "python": "3.11.7"}  # fmt: skip
    return {**base, **changed}


def test_every_input_of_training_changes_the_key_and_nothing_else_does(tmp_path):
    folder = usecase_copy(tmp_path)
    key = trained.key_of(inputs_of(folder))
    assert trained.key_of(inputs_of(folder)) == key  # stable
    (folder / "__pycache__").mkdir()
    (folder / "__pycache__" / "train.cpython-311.pyc").write_bytes(b"x")
    (folder / ".DS_Store").write_bytes(b"x")
    assert trained.key_of(inputs_of(folder)) == key  # caches and hidden files are not inputs
    for changed in ({"lock": "L2"}, {"params": {"alpha": 0.4}}, {"backend": "conda"}, {"mlflow": "3.17.1"},
                    {"python": "3.12.1"}):  # fmt: skip
        assert trained.key_of(inputs_of(folder, **changed)) != key, changed
    for name in ("train.py", "conda.yaml", "MLproject"):
        edited = usecase_copy(tmp_path / name)
        (edited / name).write_text((edited / name).read_text() + "\n# changed\n")
        assert trained.key_of(inputs_of(edited)) != key, name
    data = tmp_path / "h2o"
    shutil.copytree(ROOT / "usecases" / "h2o_wine", data)
    before = trained.folder_digest(data)
    csv = data / "wine.csv"
    csv.write_bytes(csv.read_bytes().replace(b"7.4", b"7.5", 1))
    assert trained.folder_digest(data) != before  # a data file


def fake_cell(cell_dir: Path) -> None:
    """A cell's private store: a SQLite file naming the cell's own folder, and mlruns with a meta.yaml."""
    (cell_dir / "mlruns" / "1" / "abc" / "artifacts" / "model").mkdir(parents=True)
    (cell_dir / "mlruns" / "1" / "abc" / "artifacts" / "model" / "model.pkl").write_bytes(b"\x80pickle")
    (cell_dir / "mlruns" / "1" / "meta.yaml").write_text(f"artifact_location: file://{cell_dir}/mlruns/1\n")
    with sqlite3.connect(cell_dir / "mlflow.db") as db:
        db.execute("CREATE TABLE runs (run_uuid VARCHAR(32), artifact_uri VARCHAR(200), lifecycle INTEGER)")
        db.execute("INSERT INTO runs VALUES ('abc', ?, 1)", (f"file://{cell_dir}/mlruns/1/abc/artifacts",))


def test_a_kept_model_is_restored_into_another_cell_with_its_paths_rewritten(tmp_path):
    old, new, cache = tmp_path / "run1" / "3.17.2" / "uc", tmp_path / "run2" / "3.17.2" / "uc", tmp_path / "cache"
    fake_cell(old)
    new.mkdir(parents=True)
    entry = trained.store(cache, "k1", {"lock": "L1"}, old, "abc", "run1/3.17.2/uc")
    assert entry is not None and trained.store(cache, "k1", {}, old, "abc", "x") is None  # kept once
    found, problem = trained.lookup(cache, "k1")
    assert problem is None and found.run_id == "abc" and found.source == "run1/3.17.2/uc"
    trained.restore(found, new)
    with sqlite3.connect(new / "mlflow.db") as db:
        assert db.execute("SELECT artifact_uri FROM runs").fetchone()[0] == f"file://{new}/mlruns/1/abc/artifacts"
    assert str(new) in (new / "mlruns" / "1" / "meta.yaml").read_text()
    assert (new / "mlruns" / "1" / "abc" / "artifacts" / "model" / "model.pkl").read_bytes() == b"\x80pickle"
    with pytest.raises(trained.CacheError, match="never overwrites"):
        trained.restore(found, new)
    assert "1 trained model(s)" in trained.footer(cache)


@pytest.mark.parametrize("damage", ["change", "remove", "entry"])
def test_a_damaged_entry_is_set_aside_never_used(tmp_path, damage):
    cell, cache = tmp_path / "cell", tmp_path / "cache"
    fake_cell(cell)
    entry = trained.store(cache, "k1", {}, cell, "abc", "r/l/u")
    model = entry.folder / "mlruns" / "1" / "abc" / "artifacts" / "model" / "model.pkl"
    if damage == "change":
        model.write_bytes(b"\x80pickle, but another one")
    elif damage == "remove":
        model.unlink()
    else:
        (entry.folder / trained.ENTRY_FILE).write_text("{")
    found, problem = trained.lookup(cache, "k1")
    assert found is None and problem.startswith("cached model k1 set aside: ")
    assert not (cache / "k1").exists() and any(p.name.startswith(".broken-k1-") for p in cache.iterdir())
    assert trained.lookup(cache, "k1") == (None, None)  # gone: the next cell trains and keeps its own


def _store_one(args: tuple[str, str]) -> bool:
    cache, cell = args
    return trained.store(Path(cache), "same", {}, Path(cell), "abc", "r/l/u") is not None


def test_two_cells_keeping_one_key_at_once_leave_one_whole_entry(tmp_path):
    cells = []
    for n in range(4):
        fake_cell(tmp_path / f"cell{n}")
        cells.append((str(tmp_path / "cache"), str(tmp_path / f"cell{n}")))
    with multiprocessing.get_context("spawn").Pool(4) as pool:
        kept = pool.map(_store_one, cells)
    assert sum(kept) >= 1
    found, problem = trained.lookup(tmp_path / "cache", "same")
    assert problem is None and trained.verify(found) is None
    assert [p.name for p in (tmp_path / "cache").iterdir()] == ["same"]  # no half-written scratch left


def test_keep_n_and_clear(tmp_path):
    cell, cache = tmp_path / "cell", tmp_path / "cache"
    fake_cell(cell)
    for key in ("a", "b", "c"):
        trained.store(cache, key, {}, cell, "abc", "r/l/u")
    (cache / ".broken-x-1").mkdir()
    removed = trained.prune(cache, 1)
    assert sorted(p.name for p in removed) == [".broken-x-1", "a", "b"]
    assert [p.name for p in trained.entries(cache)] == ["c"]
    assert json.loads((cache / "c" / trained.ENTRY_FILE).read_text())["key"] == "c"
    trained.prune(cache, None)
    assert trained.entries(cache) == []


def fake_check(cell_dir: Path, folder: str = "check") -> Path:
    """A passing check's folder: its spec and report name the cell, the model it downloaded."""
    work = cell_dir / folder
    (work / "tmp1" / "model").mkdir(parents=True)
    (work / "tmp1" / "model" / "model.pkl").write_bytes(b"\x80pickle")
    (work / "spec.json").write_text(json.dumps({"work_dir": str(work), "store_dir": f"{cell_dir}/mlruns"}))
    (work / "out.json").write_text(json.dumps({"model_dir": f"{work}/tmp1/model", "oracle": {"p": [5.9]}}))
    return work


def test_a_kept_check_is_taken_by_a_cell_of_the_same_model_with_its_paths_rewritten(tmp_path):
    old, new, cache = tmp_path / "run1" / "1.2.SBD.0" / "uc", tmp_path / "run2" / "up" / "uc", tmp_path / "cache"
    fake_cell(old)
    entry = trained.store(cache, "k1", {}, old, "abc", "run1/1.2.SBD.0/uc")
    assert trained.take_check(entry.folder, "c1", new, "check") == (None, None)  # none kept yet: the check runs
    assert trained.keep_check(entry.folder, "c1", fake_check(old), old, "run1/1.2.SBD.0/uc")
    assert not trained.keep_check(entry.folder, "c1", fake_check(tmp_path / "other"), old, "x")  # kept once
    assert trained.lookup(cache, "k1")[1] is None  # the entry's own manifest still holds
    new.mkdir(parents=True)
    assert trained.take_check(entry.folder, "c1", new, "from-check") == ("run1/1.2.SBD.0/uc", None)
    out = json.loads((new / "from-check" / "out.json").read_text())
    assert out["model_dir"] == f"{new}/from-check/tmp1/model" and out["oracle"] == {"p": [5.9]}
    assert Path(out["model_dir"], "model.pkl").read_bytes() == b"\x80pickle"
    assert json.loads((new / "from-check" / "spec.json").read_text())["store_dir"] == f"{new}/mlruns"
    assert not (new / "from-check" / trained.CHECK_FILE).exists()
    with pytest.raises(trained.CacheError, match="never overwrites"):
        trained.take_check(entry.folder, "c1", new, "from-check")


@pytest.mark.parametrize("damage", ["change", "remove", "record"])
def test_a_damaged_kept_check_is_removed_and_the_check_runs(tmp_path, damage):
    cell, cache = tmp_path / "cell", tmp_path / "cache"
    fake_cell(cell)
    entry = trained.store(cache, "k1", {}, cell, "abc", "r/l/u")
    trained.keep_check(entry.folder, "c1", fake_check(cell), cell, "r/l/u")
    kept = entry.folder / trained.CHECKS_DIR / "c1"
    if damage == "change":
        (kept / "out.json").write_text(json.dumps({"oracle": {"p": [1.0]}}))  # another answer: never taken
    elif damage == "remove":
        (kept / "tmp1" / "model" / "model.pkl").unlink()
    else:
        (kept / trained.CHECK_FILE).write_text("{")
    source, problem = trained.take_check(entry.folder, "c1", tmp_path / "new", "check")
    assert source is None and problem.startswith("kept tracking check removed: ")
    assert not kept.exists() and not (tmp_path / "new" / "check").exists()


def test_the_check_key_holds_what_the_check_reads_not_where_the_cell_is():
    from rolloutcheck.cells.stages import tracking

    spec = {"tracking_uri": "sqlite:////a/mlflow.db", "store_dir": "/a/mlruns", "work_dir": "/a/check",
            "run_id": "r1", "params": {"alpha": 0.5}, "probes": {"p": {"kind": "frame", "data": [[1]]}}}  # fmt: skip
    key = tracking.check_key(spec)
    moved = {**spec, "tracking_uri": "sqlite:////b/mlflow.db", "store_dir": "/b/mlruns", "work_dir": "/b/check"}
    assert tracking.check_key(moved) == key
    new_probe = {**spec, "probes": {**spec["probes"], "q": {"kind": "frame", "data": [[2]]}}}
    for changed in (new_probe, {**spec, "run_id": "r2"}, {**spec, "params": {"alpha": 0.4}}):
        assert tracking.check_key(changed) != key
