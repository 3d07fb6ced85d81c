"""Runs stages in order and records each as a StageResult: timed, one line, its log.

After a failure every later stage is recorded as skipped without running. Any exception inside
a stage fails that stage (an unexpected one with its traceback appended to the stage's log);
Ctrl-C, SIGTERM and SIGHUP fail it as interrupted and propagate, so the cell can clean up.
"""

from __future__ import annotations

import re
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType

from rolloutcheck.core import quiet
from rolloutcheck.core.errors import ConfigError, Failure, NotChecked
from rolloutcheck.core.steplog import StepLog
from rolloutcheck.spec import breaks
from rolloutcheck.spec.results import (
    BAD_INPUT,
    FAIL,
    FINDING,
    KNOWN_BREAK,
    NOT_CHECKED,
    PASS,
    SKIP,
    XFAIL,
    XPASS,
    CellResult,
    ProbeResult,
    StageResult,
)

KnownBreaks = Callable[[str], Sequence[tuple[re.Pattern[str], breaks.Described]]]  # stage -> its written-down breaks
Findings = Callable[[str], bool]  # stage -> whether its failure is a finding of the decision (XFAIL), not a FAIL


class StageRunner:
    def __init__(
        self, result: CellResult, steps: StepLog, logs: Path, known: KnownBreaks | None = None,
        finding: Findings | None = None, fail_fast: bool = False,
    ):  # fmt: skip
        self.result = result
        self.fail_fast = fail_fast  # ROLLOUT_FAIL_FAST: the first failure stops the cell, branches or not
        self.stopped: str | None = None  # that first failed stage; no branch's end resets it
        self.steps = steps
        self.logs = logs
        self.known = known or (lambda stage: ())
        self.finding = finding or (lambda stage: False)
        self.failed: str | None = None
        self.broken: str | None = None  # a known break in the current branch: the rest of it does not run
        self.current: str | None = None
        self.background: dict[str, float] = {}  # stage -> when start() launched it

    def log(self, stage: str) -> Path:
        return self.logs / f"{stage}.log"

    def _recorded(self, name: str) -> bool:
        return any(s.stage == name for s in self.result.stages)

    def step(self, name: str, what: str, work: Callable[[StageResult], None]) -> bool:
        """Run `work` as stage `name`; True when it passed."""
        if self._recorded(name):
            return not self.failed
        if self.stopped or self.failed:
            self.result.stages.append(StageResult(name, SKIP, self._skipped_why()))
            return False
        if self.broken:
            self.result.stages.append(
                StageResult(name, XFAIL, f"not run: {self.broken} broke (a finding)", details={"after": self.broken})
            )
            return False
        record = StageResult(name, PASS, log=str(self.log(name)))
        self.current, started = name, time.monotonic()
        probes_before = len(self.result.probes)
        try:
            started = self.steps.begin(name, what)  # inside: an interrupt while the line is printed is this stage's
            with quiet.busy():  # a speed comparison elsewhere on the machine waits for this stage to end
                work(record)
        except Failure as failure:  # the tool's expected failures: StageFailed, LockError, ServeError, ...
            candidates = self.known(name)
            match, also = _matched(name, failure, candidates, record)
            if match is None and candidates and not self.finding(name):  # written down here, but not this
                match = breaks.Match(name, failure.reason, None)
            if match is not None or self.finding(name):
                if match is None:
                    why = lambda seen: f"{FINDING}: {seen}"  # noqa: E731 - production's model: nobody wrote it down
                elif match.known is None:
                    why = lambda seen: f"{breaks.UNWRITTEN} at {name}: {seen}"  # noqa: E731
                else:
                    why = lambda seen: f"{KNOWN_BREAK}: {match.reason} (seen: {seen})"  # noqa: E731
                # several differences: the one that decides (the first not written down) is the line said
                record.status, record.reason = XFAIL, why(match.line if failure.items and match else failure.reason)
                record.log = str(failure.log or record.log)
                if match is not None:
                    recorded = record.details.setdefault("breaks", [])
                    recorded += [m.as_dict() for m in dict.fromkeys([match, *also]) if m.as_dict() not in recorded]
                self.broken = name
                for probe in self.result.probes[probes_before:]:  # each request this stage saw fail, judged alone
                    if probe.status == FAIL:
                        self._probe_broke(probe, candidates, match, why, record)
            else:
                self._fail(record, failure.reason, failure.log)
                if isinstance(failure, ConfigError):  # the repository's own input: bad input, not a verdict
                    record.details[BAD_INPUT] = failure.file
                elif isinstance(failure, NotChecked):
                    record.details[NOT_CHECKED] = failure.reason
        except KeyboardInterrupt as interrupt:
            self._fail(record, interrupted_reason(interrupt))
            raise
        except Exception as error:  # noqa: BLE001 - a bug or an unforeseen failure still ends as this stage's result
            self.unexpected(record, error)
        else:
            candidates = self.known(name)
            # a stage that did not meet what its written-down breaks are about (production declares nothing they
            # depend on: `exercised` False) is no sign that they are gone
            if candidates and not record.details.get("observed") and record.details.get("exercised", True):
                known = "; ".join(f"{d.reason} [{d.source}]" for _, d in candidates)
                record.status, record.reason = XPASS, f"known break no longer seen ({known}): {record.reason}"
        finally:
            if record.status != FAIL:
                self._observed(name, record)
            self.current = None
            if record.log and not Path(record.log).exists():
                record.log = None
            self.result.stages.append(record)  # before the end line: an interrupt while printing it keeps it
            # a stage launched earlier by start() counts its time from then
            waited = self.steps.end(name, self.background.get(name, started), record.status, record.reason)
            record.seconds = round(record.seconds or waited, 2)
        return record.status in (PASS, XPASS)

    def _probe_broke(
        self, probe: ProbeResult, candidates: Sequence[tuple[re.Pattern[str], breaks.Described]],
        match: breaks.Match | None, why: Callable[[str], str], record: StageResult,
    ) -> None:  # fmt: skip
        """A failing request of a stage that broke: the stage's break when its own line is that break (or the
        stage's failure was nobody's, a production model's); else a break nobody wrote down, on its own."""
        name = probe.name.split(":", 1)[-1]  # its own line, and the lines of the stage's log that name it
        mine = [probe.reason, *(line for line in breaks.lines_of("", record.log)[1:] if name in line)]
        own = breaks.first_match(candidates, mine) if candidates else None
        if match is None or match.known is None or (own is not None and own.known == match.known):
            probe.status, probe.reason = XFAIL, why(probe.reason)
            return
        other = own or breaks.Match(record.stage, probe.reason, None)
        probe.status = XFAIL
        probe.reason = (f"{KNOWN_BREAK}: {other.reason} (seen: {probe.reason})" if other.known
                        else f"{breaks.UNWRITTEN} at {record.stage}: {probe.reason}")  # fmt: skip
        if other.as_dict() not in record.details["breaks"]:
            record.details["breaks"].append(other.as_dict())

    def _observed(self, name: str, record: StageResult) -> None:
        """What a stage met and worked around (`details["observed"]`, e.g. a store opened only with a
        setting): each is a break too, the written-down one it matches or one nobody wrote down."""
        observed = record.details.get("observed") or []
        candidates = self.known(name)
        for line in observed:
            match = breaks.first_match(candidates, [line]) or breaks.Match(name, line, None)
            record.details.setdefault("breaks", []).append(match.as_dict())
            seen = f"{KNOWN_BREAK}: {match.reason} (seen: {line})" if match.known else match.reason
            record.reason = seen if record.status == PASS else f"{record.reason}; also {seen}"
            record.status = XFAIL

    @contextmanager
    def branch(self) -> Iterator[None]:
        """Stages that depend on each other but not on other branches: a failure or known break
        inside skips the rest of the branch only (the cell still fails on a FAIL)."""
        failed, broken = self.failed, self.broken
        try:
            yield
        finally:
            self.failed, self.broken = failed, broken

    def _skipped_why(self) -> str:
        """Why a stage does not run: the first failure under ROLLOUT_FAIL_FAST, else this branch's."""
        if self.stopped:
            return f"skipped: stopped at the first failure, stage {self.stopped} (ROLLOUT_FAIL_FAST)"
        return f"skipped: stage {self.failed} failed" if self.failed else "skipped: run ended early"

    def _fail(self, record: StageResult, reason: str, log: Path | str | None = None) -> None:
        record.status, record.reason = FAIL, reason
        record.log = str(log or record.log)
        self.failed = self.failed or record.stage
        if self.fail_fast:
            self.stopped = self.stopped or record.stage

    def unexpected(self, record: StageResult, error: BaseException) -> None:
        log = self.log(record.stage)
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("a") as out:
            out.write("".join(traceback.format_exception(error)))
        first = str(error).strip().splitlines()[0] if str(error).strip() else ""
        self._fail(record, f"unexpected {type(error).__name__}: {first}"[:400], log)

    def run(self, stage: ModuleType, ctx, state, name: str | None = None) -> bool:
        """Run a stage module (recorded as `name`, default its NAME: upgrade cells run some twice)."""
        return self.step(name or stage.NAME, stage.describe(ctx), lambda record: stage.run(ctx, state, record))

    def start(self, stage: ModuleType, ctx, state, name: str | None = None) -> None:
        """Launch a background stage now (it is recorded when `run` waits for it); a failure to
        launch fails that stage at once."""
        name = name or stage.NAME
        if self.failed or self.stopped:
            return
        self.background[name] = time.monotonic()
        try:
            stage.start(ctx, state)
        except KeyboardInterrupt:
            raise
        except Exception as error:  # noqa: BLE001
            failed = error
            self.step(name, stage.describe(ctx), lambda record: _reraise(failed))

    def _next_stage(self) -> str | None:
        """The first declared stage not recorded yet: where a run that stopped between stages stopped."""
        return next((s for s in self.result.expected_stages if not self._recorded(s)), None)

    def crashed(self, error: BaseException) -> None:
        """An exception escaped between stages: it fails the stage that would have run next."""
        name = self._next_stage() or self.result.expected_stages[-1]
        record = StageResult(name, PASS, log=str(self.log(name)))
        self.unexpected(record, error)
        self.result.stages.append(record)

    def interrupted(self, interrupt: KeyboardInterrupt) -> None:
        """An interrupt outside any stage's work (between stages, launching a background one): it fails
        the stage that would have run next, so the result still names where the run stopped."""
        if any(s.status == FAIL and s.reason.startswith("interrupted") for s in self.result.stages):
            return  # a stage recorded it
        name = self._next_stage()
        if name is not None:
            record = StageResult(name, PASS)
            self._fail(record, interrupted_reason(interrupt))
            self.result.stages.append(record)

    def finish(self) -> None:
        """Every stage appears once, in lifecycle order; those that never ran are skipped, with why."""
        stages = self.result.expected_stages
        for name in stages:
            if not self._recorded(name):
                self.result.stages.append(StageResult(name, SKIP, self._skipped_why()))
        self.result.stages.sort(key=lambda s: stages.index(s.stage) if s.stage in stages else len(stages))


def _matched(
    name: str, failure: Failure, candidates: Sequence[tuple[re.Pattern[str], breaks.Described]], record: StageResult
) -> tuple[breaks.Match | None, list[breaks.Match]]:
    """What a failure is: (the match that decides, the other differences' matches). A failure made of several
    differences (a store read back changed) is matched item by item, the first not written down deciding;
    else the failure's line, or a line of its log (the stage's own when the failure names none)."""
    if failure.items and candidates:
        matched = [breaks.first_match(candidates, [item]) or breaks.Match(name, item, None) for item in failure.items]
        first = next((m for m in matched if m.known is None), matched[0])
        return first, [m for m in matched if m is not first]
    return breaks.first_match(candidates, breaks.lines_of(failure.reason, failure.log or record.log)), []


def interrupted_reason(interrupt: KeyboardInterrupt) -> str:
    """`interrupted (signal SIGHUP)`; a plain Ctrl-C carries no signal name."""
    return f"interrupted ({interrupt.args[0] if interrupt.args else 'Ctrl-C'})"


def _reraise(error: BaseException) -> None:
    raise error
