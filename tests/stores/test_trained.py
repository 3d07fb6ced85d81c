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
