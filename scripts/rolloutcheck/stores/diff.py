"""Compare two tracking-store snapshots (inenv/snapshot.py): counts before and after, every difference.

Versions read the same stored data with a few fields renamed or added. Each is lined up here, by
name, in FIELD_RULES; nothing else is skipped, so a lost metric point, a changed tag or a run that
came back from deletion is a difference that names the run and the field.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from rolloutcheck.core.atomic import write_atomic

# field -> (why it differs between versions, how to read a snapshot so that both sides line up)
Rule = Callable[[dict], object]
RUN_NAME_TAG = "mlflow.runName"

FIELD_RULES: dict[str, tuple[str, Rule]] = {
    "run.run_name": (
        "RunInfo.run_name exists from 1.27 on; older versions keep the name only in the mlflow.runName tag, "
        "and an unset name reads as None or ''",
        lambda run: run.get("run_name") or run.get("tags", {}).get(RUN_NAME_TAG) or "",
    ),
    "registry": (
        "a version without a model registry (< 1.4) reports none; a newer one reads the same store as an "
        "empty registry",
        lambda snapshot: (snapshot.get("registry") or {}).get("models") or {},
    ),
}


@dataclass
class StoreDiff:
    before: dict[str, int]
    after: dict[str, int]
    differences: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.differences

    def summary(self) -> str:
        counts = ", ".join(f"{k} {self.before[k]}" for k in self.before)
        if self.ok:
            return f"nothing lost or changed ({counts})"
        return f"{len(self.differences)} difference(s), first: {self.differences[0]}"

    def write(self, path: Path, title: str) -> Path:
        lines = [f"# {title}", "", f"{'what':<22}{'before':>10}{'after':>10}"]
        lines += [f"{k:<22}{self.before.get(k, 0):>10}{self.after.get(k, 0):>10}" for k in self.before]
        lines += ["", f"{len(self.differences)} difference(s)"] + [f"- {d}" for d in self.differences]
        lines += ["", "lined up between versions (storediff.FIELD_RULES):"]
        lines += [f"- {name}: {why}" for name, (why, _) in FIELD_RULES.items()]
        return write_atomic(path, "\n".join(lines) + "\n")


def load(path: Path) -> dict:
    return json.loads(path.read_text())


def counts(snapshot: dict) -> dict[str, int]:
    runs = snapshot["runs"].values()
    experiments = snapshot["experiments"].values()
    models = FIELD_RULES["registry"][1](snapshot)
    return {
        "experiments": len(snapshot["experiments"]),
        "deleted experiments": sum(e["lifecycle_stage"] == "deleted" for e in experiments),
        "runs": len(snapshot["runs"]),
        "deleted runs": sum(r["lifecycle_stage"] == "deleted" for r in runs),
        "params": sum(len(r["params"]) for r in runs),
        "tags": sum(len(r["tags"]) for r in runs),
        "metric points": sum(len(points) for r in runs for points in r["metrics"].values()),
        "artifacts": sum(len(r["artifacts"]) for r in runs),
        "registered models": len(models),
        "model versions": sum(len(m["versions"]) for m in models.values()),
    }


def _same(a: object, b: object) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return a == b


def _mapping(where: str, before: dict, after: dict, out: list[str]) -> None:
    for key in sorted(set(before) | set(after)):
        if key not in after:
            out.append(f"{where} {key!r}: lost (was {before[key]!r})")
        elif key not in before:
            out.append(f"{where} {key!r}: appeared ({after[key]!r})")
        elif not _same(before[key], after[key]):
            out.append(f"{where} {key!r}: {before[key]!r} -> {after[key]!r}")


def _metrics(where: str, before: dict, after: dict, out: list[str]) -> None:
    for key in sorted(set(before) | set(after)):
        old, new = before.get(key, []), after.get(key, [])
        if _same(old, new):
            continue
        lost = [p for p in old if not any(_same(p, q) for q in new)]
        added = [p for p in new if not any(_same(p, q) for q in old)]
        for step, timestamp, value in lost:
            out.append(f"{where} metric {key!r}: point step {step} at {timestamp} = {value!r} lost")
        for step, timestamp, value in added:
            out.append(f"{where} metric {key!r}: point step {step} at {timestamp} = {value!r} appeared")
        if not lost and not added:
            out.append(f"{where} metric {key!r}: {len(old)} points became {len(new)}")


RUN_FIELDS = ("experiment_id", "status", "start_time", "end_time", "lifecycle_stage", "artifact_uri", "user_id")


def _pairs(where: str, before: dict, after: dict, out: list[str]):
    """(label, old, new) for every key on both sides, in order; one present on one side only is a
    difference (`lost` or `appeared`) and is not yielded."""
    for key in sorted(set(before) | set(after)):
        old, new = before.get(key), after.get(key)
        if old is None or new is None:
            name = f" ({(old or new)['name']!r})" if "name" in (old or new) else ""
            out.append(f"{where} {key}{name}: {'appeared' if old is None else 'lost'}")
        else:
            yield f"{where} {key}", old, new


def compare(before: dict, after: dict) -> StoreDiff:
    diff = StoreDiff(counts(before), counts(after))
    out = diff.differences
    for where, old, new in _pairs("experiment", before["experiments"], after["experiments"], out):
        plain = lambda e: {k: v for k, v in e.items() if k != "tags"}  # noqa: E731
        _mapping(where, plain(old), plain(new), out)
        _mapping(f"{where} tag", old["tags"], new["tags"], out)
    run_name = FIELD_RULES["run.run_name"][1]
    for where, old, new in _pairs("run", before["runs"], after["runs"], out):
        _mapping(where, {k: old.get(k) for k in RUN_FIELDS} | {"run_name": run_name(old)},
                 {k: new.get(k) for k in RUN_FIELDS} | {"run_name": run_name(new)}, out)  # fmt: skip
        _mapping(f"{where} param", old["params"], new["params"], out)
        _mapping(f"{where} tag", old["tags"], new["tags"], out)
        _mapping(f"{where} latest metric", old["latest_metrics"], new["latest_metrics"], out)
        _metrics(where, old["metrics"], new["metrics"], out)
        _mapping(f"{where} artifact", dict(map(tuple, old["artifacts"])), dict(map(tuple, new["artifacts"])), out)
    registry = FIELD_RULES["registry"][1]
    quoted = lambda models: {repr(k): v for k, v in models.items()}  # noqa: E731
    for where, old, new in _pairs("registered model", quoted(registry(before)), quoted(registry(after)), out):
        _mapping(f"{where} tag", old["tags"], new["tags"], out)
        _mapping(f"{where} alias", old["aliases"], new["aliases"], out)
        _mapping(f"{where} version", old["versions"], new["versions"], out)
    return diff
