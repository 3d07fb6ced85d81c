"""A stand-in for the `conda` executable, backed by py-rattler: NOT conda.

conda, mamba and micromamba cannot be installed on these machines (no conda channel is
reachable), so the conda-path tests give conda-lock this script as its `--conda`. It implements
only what conda-lock calls, for local file:// channels:
  conda --version
  conda info --json
  conda create --prefix P --dry-run --json [--override-channels] --channel URL ... SPEC ...
  conda create --quiet --file EXPLICIT.txt --yes --prefix P
Solving and installing are py-rattler's; the JSON shapes are conda's.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
from pathlib import Path

import rattler


def _records_to_actions(records) -> list[dict]:
    """conda's FETCH/LINK entries: the repodata record plus url, channel, fn and dist_name."""
    actions = []
    for record in records:
        entry = json.loads(record.to_json())
        entry.setdefault("fn", record.file_name)
        entry["url"], entry["channel"] = record.url, str(record.channel)
        entry["dist_name"] = record.file_name.removesuffix(".tar.bz2").removesuffix(".conda")
        actions.append(entry)
    return actions


async def _solve(channels: list[str], specs: list[str]):
    platform = os.environ.get("CONDA_SUBDIR", "linux-64")
    return await rattler.solve(channels, specs, platforms=[platform, "noarch"], timestamp_policy="allow-missing")


def _explicit(file: Path) -> tuple[list[str], list[str]]:
    """Channels and exact specs out of an @EXPLICIT file of package URLs."""
    channels, specs = [], []
    for line in file.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith(("#", "@")):
            continue
        url = line.split("#", 1)[0]
        channel, _, filename = url.rpartition("/")
        channel = channel.rpartition("/")[0]  # drop the subdir
        name, version, build = filename.removesuffix(".tar.bz2").removesuffix(".conda").rsplit("-", 2)
        specs.append(f"{name} =={version} {build}")
        if channel not in channels:
            channels.append(channel)
    return channels, specs


def main(argv: list[str]) -> int:
    if argv[:1] == ["--version"]:
        print("conda 24.11.0")  # what conda-lock checks; the stand-in speaks that dialect
        return 0
    if argv[:2] == ["info", "--json"]:
        pkgs = os.environ.get("CONDA_PKGS_DIRS") or tempfile.mkdtemp()
        print(json.dumps({"pkgs_dirs": [pkgs], "platform": "linux-64", "conda_version": "rattler-standin"}))
        return 0
    if not argv or argv[0] != "create":
        print(f"rattler conda stand-in: unsupported command {argv}", file=sys.stderr)
        return 2
    parser = argparse.ArgumentParser(prog="conda create")
    parser.add_argument("--prefix", "-p", required=True)
    parser.add_argument("--channel", "-c", action="append", default=[])
    parser.add_argument("--file")
    for flag in ("--dry-run", "--json", "--override-channels", "--quiet", "--yes", "--copy"):
        parser.add_argument(flag, action="store_true")
    parser.add_argument("specs", nargs="*")
    args = parser.parse_args(argv[1:])
    channels, specs = args.channel, list(args.specs)
    if args.file:
        file_channels, file_specs = _explicit(Path(args.file))
        channels, specs = channels + file_channels, specs + file_specs
    records = asyncio.run(_solve(channels, specs))
    if args.dry_run:
        actions = _records_to_actions(records)
        print(json.dumps({"success": True, "actions": {"FETCH": actions, "LINK": actions, "PREFIX": args.prefix}}))
        return 0
    asyncio.run(rattler.install(records, target_prefix=args.prefix, show_progress=False))
    return 0


if __name__ == "__main__":
    code = main(sys.argv[1:])
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)  # py-rattler sometimes crashes at interpreter exit (see shared notes)
