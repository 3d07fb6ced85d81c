"""Runs a kind's declared steps (spec/kinds.py) with the stage runner: branches, background stages.

`bind(side)` gives the (context, state) a step's side runs with; each kind's module supplies it.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from contextlib import ExitStack
from functools import cache

from rolloutcheck.cells.runner import StageRunner
from rolloutcheck.cells.stages import Stage
from rolloutcheck.spec.kinds import Side, Step

Binder = Callable[[Side], tuple[object, object]]  # side -> (CellContext, state)


@cache
def stage_of(step: Step) -> Stage:
    """The stage object a step names: `module` or `module:attribute` under rolloutcheck.cells.stages."""
    module, _, attribute = step.runs.partition(":")
    found = importlib.import_module(f"rolloutcheck.cells.stages.{module}")
    return getattr(found, attribute) if attribute else found


def execute(runner: StageRunner, steps: tuple[Step, ...], bind: Binder) -> None:
    """Every step in order; a step in a branch shares its failure only with the rest of that branch."""
    waiting: dict[str, list[Step]] = {}  # step name -> background steps to wait for after it
    with ExitStack() as branches:
        branch = None
        for step in steps:
            if step.branch != branch:
                branches.close()  # leave the previous branch: its failure no longer skips anything
                if step.branch:
                    branches.enter_context(runner.branch())
                branch = step.branch
            if step.finishes_after:
                runner.start(stage_of(step), *bind(step.side), step.name)
                waiting.setdefault(step.finishes_after, []).append(step)
                continue
            runner.run(stage_of(step), *bind(step.side), step.name)
            for background in waiting.pop(step.name, []):
                runner.run(stage_of(background), *bind(background.side), background.name)
