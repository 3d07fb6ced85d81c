"""The stages a cell runs, one module (or object) each; which kind runs which is spec/kinds.py.

Top level: the stages every kind shares (lock, env, train, tracking, serve, probe, speed);
upgrade/: the *from* label's model served by the *to* label; store/: tracking stores across labels.
"""

from __future__ import annotations

from typing import Protocol


class Stage(Protocol):
    """What a stage offers the runner: its name, a one-line description, and `run`, which fills in
    `record` (reason, details) or raises a core.errors.Failure (the stage fails with its reason).
    A stage that runs in the background (models.kinds.Step.finishes_after) also has `start`."""

    NAME: str

    def describe(self, ctx) -> str: ...

    def run(self, ctx, state, record) -> None: ...
