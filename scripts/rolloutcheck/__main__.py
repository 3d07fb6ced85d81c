"""Command line: `python -m rolloutcheck {labels,usecases,report,cleanup,migrate-probe}`.

The nox sessions are the front door (`nox -l`); this calls the same functions."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from rolloutcheck.core import procs, settings
from rolloutcheck.inputs import registry, usecases
from rolloutcheck.models import layout
from rolloutcheck.probes import curl, migrate
from rolloutcheck.reports import aggregate


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="rolloutcheck", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("labels", help="print the registered version labels, one per line")
    sub.add_parser("usecases", help="print the use case folders, one per line")
    rep = sub.add_parser("report", help="aggregate a run folder into junit.xml and summary.md")
    rep.add_argument("run", nargs="?", type=Path, help="run folder (default: the newest)")
    rep.add_argument("labels", nargs="*", help="sessions the run was asked for (validate-L, upgrade-L or L)")
    sub.add_parser("cleanup", help="stop processes left by runs that were killed")
    mig = sub.add_parser("migrate-probe", help="write the mlflow 2 form of stored 1.x requests beside them")
    mig.add_argument("files", nargs="+", type=Path, help="stored curl files")
    mig.add_argument("--to", type=int, default=2, choices=[2], help="target major version")
    args = parser.parse_args(argv)
    if args.command == "migrate-probe":  # needs no registry
        return migrate_probes(args.files, args.to)
    try:
        config = settings.Settings.from_environ()
        labels = registry.load(config).labels
    except (settings.SettingsError, registry.RegistryError) as error:
        print(f"rolloutcheck: {error}", file=sys.stderr)
        return 2
    if args.command == "labels":
        print("\n".join(labels))
    elif args.command == "usecases":
        print("\n".join(usecases.names()))
    elif args.command == "report":
        run = args.run or layout.latest_run(config)
        if run is None or not run.is_dir():
            print("no results yet: run `nox -s validate-<label>` first", file=sys.stderr)
            return 2
        text, cells = aggregate.summarize(run, selection=args.labels or None)
        print(text)
        return 1 if not cells or any(c.status != "pass" for c in cells) else 0
    elif args.command == "cleanup":
        for line in procs.stop_leftovers():
            print(f"stopped {line}")
    return 0


def migrate_probes(files: list[Path], to: int) -> int:
    failed = 0
    for path in files:
        try:
            target = migrate.migrate_file(path, to)
        except (migrate.MigrationError, curl.CurlError) as error:
            print(f"rolloutcheck: {error}", file=sys.stderr)
            failed += 1
            continue
        print(f"{path}: already the {to}.x protocol, unchanged" if target is None else f"{path} -> {target}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
