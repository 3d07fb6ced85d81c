"""Command line: `python -m rolloutcheck {labels,usecases,report,lock}` (used by the Makefile)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from . import commands, registry, usecases


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="rolloutcheck", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("labels", help="print the registered version labels, one per line")
    sub.add_parser("usecases", help="print the use cases, one per line")
    rep = sub.add_parser("report", help="aggregate a run folder into junit.xml and summary.md")
    rep.add_argument("run", nargs="?", type=Path, help="run folder (default: the newest)")
    lock = sub.add_parser("lock", help="refresh the locks of some or all labels")
    lock.add_argument("labels", nargs="*", help="labels to lock (default: all)")
    req = sub.add_parser("requirements", help="merge all use cases of one label into one requirements.txt")
    req.add_argument("label")
    args = parser.parse_args(argv)

    if args.command == "labels":
        print("\n".join(registry.load_labels()))
    elif args.command == "usecases":
        print("\n".join(usecases.discover()))
    elif args.command == "report":
        run = args.run or commands.latest_run()
        if run is None or not run.is_dir():
            print("no results yet: run `nox -s validate-<label>` first", file=sys.stderr)
            return 2
        text, cells = commands.summarize(run)
        print(text)
        return 1 if any(c.status == "fail" for c in cells) else 0
    elif args.command == "lock":
        labels = registry.load_labels()
        unknown = [name for name in args.labels if name not in labels]
        if unknown:
            print(f"unknown label(s) {unknown}; known: {list(labels)}", file=sys.stderr)
            return 2
        failures = []
        for name in args.labels or labels:
            failures += commands.lock_label(labels[name], usecases.discover())
        for line in failures:
            print(f"lock failed: {line}", file=sys.stderr)
        return 1 if failures else 0
    elif args.command == "requirements":
        labels = registry.load_labels()
        if args.label not in labels:
            print(f"unknown label {args.label!r}; known: {list(labels)}", file=sys.stderr)
            return 2
        return 1 if commands.merged_requirements(labels[args.label], usecases.discover()) else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
