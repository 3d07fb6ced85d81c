"""Trained models kept by the inputs that made them (`<results>/model-cache/<key>/`), so a cell whose
inputs did not change takes the model an earlier cell trained instead of training again.

An entry is the cell's own tracking store as it was after a passing train and tracking check (its
`mlruns/` folder and, for 3.x, `mlflow.db`), the run id, where it came from and a manifest (size and
sha256 of every file). It is made in a scratch folder and renamed into place, so a reader sees a
whole entry or none, and two cells storing the same key at once (`make -j2`) leave one of them.
Restoring copies it into the new cell (never shared for writing) and rewrites the old cell folder's
path wherever the store recorded it (meta.yaml files, every text column of the SQLite store). An
entry whose files are missing or differ from the manifest is set aside, never used.

An entry also keeps the passing tracking checks of its model (`checks/<check key>/`: the check's folder,
the model as it downloaded it, its report), keyed by everything the check reads besides the model: the
check script, the expected params and metrics, every probe's payload. A later cell with the same model
and the same check key takes the report instead of loading the model again; a new probe changes the
check key, so the check runs (and computes that probe's oracle). Kept and verified the same way.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import time
import uuid
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

from rolloutcheck.core.atomic import write_atomic
from rolloutcheck.core.errors import Failure

STORE_PARTS = ("mlruns", "mlflow.db")  # what a cell's private tracking store is made of (traits.tracking_uri)
ENTRY_FILE = "entry.json"
CHECKS_DIR = "checks"  # an entry's kept tracking checks, one folder per check key
CHECK_FILE = "check.json"  # in a kept check: the cell folder it ran in, its manifest


class CacheError(Failure):
    """A cache entry could not be written or restored."""


def file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def folder_digest(folder: Path) -> str:
    """The content of a folder (names and bytes), caches and hidden files left out."""
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        relative = path.relative_to(folder)
        if any(part.startswith(".") or part == "__pycache__" for part in relative.parts):
            continue
        digest.update(f"{relative.as_posix()}\0{file_digest(path)}\0".encode())
    return digest.hexdigest()


def key_of(inputs: dict) -> str:
    """The key of a train stage: a digest of every input it depends on (JSON, keys sorted)."""
    return hashlib.sha256(json.dumps(inputs, sort_keys=True, default=str).encode()).hexdigest()[:32]


@dataclass(frozen=True)
class Entry:
    folder: Path
    key: str
    run_id: str
    source: str  # `<run>/<group>/<cell>` that trained it
    cell_dir: str  # that cell's folder, as the store recorded it
    inputs: dict
    manifest: dict[str, list]  # relative path -> [size, sha256]

    @classmethod
    def load(cls, folder: Path) -> Entry:
        raw = json.loads((folder / ENTRY_FILE).read_text())
        return cls(folder, raw["key"], raw["run_id"], raw["source"], raw["cell_dir"], raw["inputs"], raw["manifest"])


def _manifest(folder: Path, skip: tuple[str, ...] = (ENTRY_FILE,)) -> dict[str, list]:
    """Size and sha256 of every file under `folder` but `skip` (top-level names)."""
    files = [p for p in sorted(folder.rglob("*")) if p.is_file() and p.relative_to(folder).parts[0] not in skip]
    return {str(p.relative_to(folder)): [p.stat().st_size, file_digest(p)] for p in files}


def _damage(folder: Path, manifest: dict[str, list]) -> str | None:
    """What differs between `folder` and its manifest (a file missing or changed), or None."""
    for relative, (size, digest) in manifest.items():
        path = folder / relative
        if not path.is_file():
            return f"{relative} is missing"
        if path.stat().st_size != size or file_digest(path) != digest:
            return f"{relative} differs from what was recorded"
    return None


def verify(entry: Entry) -> str | None:
    """What is wrong with an entry's files (missing, changed), or None when they are as recorded."""
    return _damage(entry.folder, entry.manifest)


def lookup(cache: Path, key: str) -> tuple[Entry | None, str | None]:
    """The entry for `key`, verified; or None and why it is not usable (None: there is none)."""
    folder = cache / key
    if not (folder / ENTRY_FILE).is_file():
        return None, None
    try:
        entry = Entry.load(folder)
    except (OSError, ValueError, KeyError, TypeError) as error:
        problem = f"its {ENTRY_FILE} is unreadable ({type(error).__name__})"
    else:
        problem = verify(entry)
        if problem is None:
            return entry, None
    _set_aside(folder)
    return None, f"cached model {key} set aside: {problem}"


def _set_aside(folder: Path) -> None:
    """Move a damaged entry out of the way (kept for a look, removed by `--clear`)."""
    try:
        os.rename(folder, folder.with_name(f".broken-{folder.name}-{uuid.uuid4().hex[:8]}"))
    except OSError:
        shutil.rmtree(folder, ignore_errors=True)


def _copy_store(source_dir: Path, target_dir: Path) -> None:
    """A cell's tracking store (STORE_PARTS) copied from `source_dir` into `target_dir` (keeping and restoring)."""
    for part in STORE_PARTS:
        source = source_dir / part
        if source.is_dir():
            shutil.copytree(source, target_dir / part, symlinks=True)
        elif source.is_file():  # SQLite's backup: a consistent copy while a server reads it
            with closing(sqlite3.connect(f"file:{source}?mode=ro", uri=True)) as db, \
                    closing(sqlite3.connect(target_dir / part)) as out:  # fmt: skip
                db.backup(out)


def store(cache: Path, key: str, inputs: dict, cell_dir: Path, run_id: str, source: str) -> Entry | None:
    """Keep the cell's tracking store under `key`; None when an entry for it exists already (another
    cell stored it first: both trained from the same inputs)."""
    if (cache / key / ENTRY_FILE).is_file():
        return None
    cache.mkdir(parents=True, exist_ok=True)
    scratch = cache / f".new-{key}-{uuid.uuid4().hex[:8]}"
    try:
        scratch.mkdir()
        _copy_store(cell_dir, scratch)
        stored = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        entry = {"key": key, "run_id": run_id, "source": source, "cell_dir": str(cell_dir), "inputs": inputs,
                 "stored": stored, "manifest": _manifest(scratch)}  # fmt: skip
        write_atomic(scratch / ENTRY_FILE, json.dumps(entry, indent=1))
        if not _put(scratch, cache / key):  # an entry appeared meanwhile: keep that one
            return None
    except OSError as error:
        raise CacheError(f"could not keep the trained model in {cache}: {error}") from None
    finally:
        if scratch.exists():
            shutil.rmtree(scratch, ignore_errors=True)
    return Entry.load(cache / key)


def _put(scratch: Path, target: Path) -> bool:
    """Rename a finished scratch folder into place; False when `target` appeared meanwhile."""
    try:
        os.rename(scratch, target)
    except OSError:
        return False
    return True


def keep_check(entry: Path, check_key: str, check_dir: Path, cell_dir: Path, source: str) -> bool:
    """Keep a passing tracking check (its folder: report, downloaded model) in the entry of its model;
    False when one of that key is kept already. Made in a scratch folder and renamed into place."""
    checks = entry / CHECKS_DIR
    if not (entry / ENTRY_FILE).is_file() or (checks / check_key / CHECK_FILE).is_file():
        return False
    checks.mkdir(exist_ok=True)
    scratch = checks / f".new-{check_key}-{uuid.uuid4().hex[:8]}"
    try:
        shutil.copytree(check_dir, scratch, symlinks=True)
        recorded = {"cell_dir": str(cell_dir), "folder": check_dir.name, "source": source,
                    "manifest": _manifest(scratch, skip=(CHECK_FILE,))}  # fmt: skip
        write_atomic(scratch / CHECK_FILE, json.dumps(recorded, indent=1))
        return _put(scratch, checks / check_key)
    except OSError as error:
        raise CacheError(f"could not keep the tracking check in {checks}: {error}") from None
    finally:
        if scratch.exists():
            shutil.rmtree(scratch, ignore_errors=True)


def take_check(entry: Path, check_key: str, cell_dir: Path, folder: str) -> tuple[str | None, str | None]:
    """Copy the kept check of `check_key` into `cell_dir/folder`, its recorded paths pointed there:
    (where it ran first, None), or (None, why not: none kept, or damaged and removed)."""
    kept = entry / CHECKS_DIR / check_key
    if not (kept / CHECK_FILE).is_file():
        return None, None
    try:
        recorded = json.loads((kept / CHECK_FILE).read_text())
        problem = _damage(kept, recorded["manifest"])
    except (OSError, ValueError, KeyError, TypeError) as error:
        problem = f"its {CHECK_FILE} is unreadable ({type(error).__name__})"
    if problem:
        shutil.rmtree(kept, ignore_errors=True)
        return None, f"kept tracking check removed: {problem}"
    target = cell_dir / folder
    if target.exists():
        raise CacheError(f"{target} exists already: a kept check never overwrites a cell's files")
    try:
        shutil.copytree(kept, target, symlinks=True)
        (target / CHECK_FILE).unlink()
        old, new = str(Path(recorded["cell_dir"]) / recorded["folder"]), str(target)
        for name in ("spec.json", "out.json"):  # the only files naming where the check ran
            path = target / name
            if path.is_file():
                path.write_text(path.read_text().replace(old, new).replace(recorded["cell_dir"], str(cell_dir)))
    except OSError as error:
        raise CacheError(f"could not restore the kept tracking check {check_key}: {error}") from None
    return recorded["source"], None


def _rewrite_sqlite(db: Path, old: str, new: str) -> int:
    """Replace `old` by `new` in every text column of every table; the number of values changed."""
    changed = 0
    with closing(sqlite3.connect(db)) as conn, conn:  # committed, then closed
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        for table in tables:
            for column in conn.execute(f'PRAGMA table_info("{table}")').fetchall():
                name, kind = column[1], (column[2] or "").upper()
                if kind and not any(t in kind for t in ("CHAR", "TEXT", "CLOB", "VARCHAR")):
                    continue
                cursor = conn.execute(f'UPDATE "{table}" SET "{name}" = replace("{name}", ?, ?) '
                                      f'WHERE instr("{name}", ?) > 0', (old, new, old))  # fmt: skip
                changed += cursor.rowcount
    return changed


def restore(entry: Entry, cell_dir: Path) -> None:
    """Copy the entry's store into `cell_dir` and point its recorded paths at `cell_dir`."""
    for part in STORE_PARTS:
        if (cell_dir / part).exists():
            raise CacheError(f"{cell_dir / part} exists already: a reused model never overwrites a store")
    try:
        _copy_store(entry.folder, cell_dir)
        old, new = entry.cell_dir, str(cell_dir)
        if (cell_dir / "mlflow.db").is_file():
            _rewrite_sqlite(cell_dir / "mlflow.db", old, new)
        for meta in (cell_dir / "mlruns").rglob("meta.yaml") if (cell_dir / "mlruns").is_dir() else ():
            text = meta.read_text()
            if old in text:
                meta.write_text(text.replace(old, new))
    except (OSError, sqlite3.Error) as error:
        raise CacheError(f"could not restore the cached model {entry.key}: {error}") from None


def entries(cache: Path) -> list[Path]:
    """Entry folders, oldest first."""
    if not cache.is_dir():
        return []
    return sorted((p for p in cache.iterdir() if (p / ENTRY_FILE).is_file()), key=lambda p: p.stat().st_mtime)


def size(cache: Path) -> int:
    return sum(p.stat().st_size for p in cache.rglob("*") if p.is_file()) if cache.is_dir() else 0


def footer(cache: Path) -> str:
    """One line for the table: how many models are kept, how big, where."""
    return f"Model cache: {len(entries(cache))} trained model(s), {size(cache) / 1e6:.1f} MB in {cache}"


def prune(cache: Path, keep: int | None) -> list[Path]:
    """Remove all but the newest `keep` entries (None or 0: all), damaged and unfinished ones too."""
    if not cache.is_dir():
        return []
    whole = entries(cache)
    doomed = whole[: max(len(whole) - keep, 0)] if keep else whole
    doomed += [p for p in cache.iterdir() if p.name.startswith((".broken-", ".new-"))]
    for folder in doomed:
        shutil.rmtree(folder, ignore_errors=True)
    return doomed
