"""Command line: `python -m rolloutcheck {labels,usecases,report,decide,merge,cleanup,migrate-probe}`.

The nox sessions are the front door (`nox -l`); both call the functions of rolloutcheck.entry.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from rolloutcheck import entry
from rolloutcheck.inputs import usecases


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="rolloutcheck", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("labels", help="print the registered version labels, one per line")
    sub.add_parser("usecases", help="print the use case folders, one per line")
    rep = sub.add_parser("report", help="aggregate a run folder into junit.xml and summary.md")
    rep.add_argument("run", nargs="?", type=Path, help="run folder (default: the newest)")
    rep.add_argument("labels", nargs="*", help="sessions the run was asked for (validate-L, upgrade-L or L)")
    dec = sub.add_parser(
        "decide", help="the rollout decision of a run: exit 0 GO, 1 NO-GO, 2 BAD INPUT, 10 GO WITH ACTIONS"
    )
    dec.add_argument("run", nargs="?", type=Path, help="run folder (default: the newest)")
    sub.add_parser("merge", help="merge run folders into a new one (RUN... [--into DIR] [--expect FILE])")
    sub.add_parser("cleanup", help="stop processes left by runs that were killed")
    mig = sub.add_parser("migrate-probe", help="write the mlflow 2 form of stored 1.x requests beside them")
    mig.add_argument("files", nargs="+", type=Path, help="stored curl files")
    mig.add_argument("--to", type=int, default=2, choices=[2], help="target major version")
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["merge"]:  # its own options, as `nox -s merge --` takes them
        return entry.loaded(lambda tool: entry.merge(tool, argv[1:]))
    args = parser.parse_args(argv)
    if args.command == "migrate-probe":  # needs no registry
        return entry.migrate_probes(args.files, args.to)
    if args.command == "usecases":
        print("\n".join(usecases.names()))
        return entry.OK
    if args.command == "cleanup":
        return entry.cleanup()
    if args.command == "decide":
        return entry.loaded(lambda tool: entry.decide(tool, [str(args.run)] if args.run else []))
    if args.command == "labels":
        return entry.loaded(lambda tool: entry.labels(tool, []))
    return entry.loaded(lambda tool: entry.report(tool, [*([str(args.run)] if args.run else []), *args.labels]))


if __name__ == "__main__":
    sys.exit(main())
