"""Command line for developers: `python -m rolloutcheck {labels,usecases,report,cleanup}`.

The nox sessions are the front door (`nox -l`); this calls the same functions."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from . import commands, procs, registry, settings, usecases


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="rolloutcheck", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("labels", help="print the registered version labels, one per line")
    sub.add_parser("usecases", help="print the use case folders, one per line")
    rep = sub.add_parser("report", help="aggregate a run folder into junit.xml and summary.md")
    rep.add_argument("run", nargs="?", type=Path, help="run folder (default: the newest)")
    rep.add_argument("labels", nargs="*", help="labels the run was asked for (every missing cell fails)")
    sub.add_parser("cleanup", help="stop processes left by runs that were killed")
    args = parser.parse_args(argv)
    try:
        config = settings.Settings.from_environ()
        labels = registry.load(config)
    except (settings.SettingsError, registry.RegistryError) as error:
        print(f"rolloutcheck: {error}", file=sys.stderr)
        return 2
    if args.command == "labels":
        print("\n".join(labels))
    elif args.command == "usecases":
        print("\n".join(usecases.names()))
    elif args.command == "report":
        run = args.run or commands.latest_run(config)
        if run is None or not run.is_dir():
            print("no results yet: run `nox -s validate-<label>` first", file=sys.stderr)
            return 2
        text, cells = commands.summarize(run, labels=args.labels or None)
        print(text)
        return 1 if not cells or any(c.status != "pass" for c in cells) else 0
    elif args.command == "cleanup":
        for line in procs.stop_leftovers():
            print(f"stopped {line}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
