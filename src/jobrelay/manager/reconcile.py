"""Reconciliation: what the status file and the runner say -> the job's state.

``decide`` is the state part of ``judge.judge`` (pure, no I/O); every rule of
the state contract (docs/ledger.md, DESIGN.md "Job states") is a row in the
table of tests/test_judge.py. Precedence, first match wins:

1. A final state never changes, except that an exit in the status file
   replaces a final state that was decided without one (``lost``, or
   ``failed``/``killed`` taken from the runner): the file is the source of
   truth, and shared filesystems can show it late.
2. Host not reached -> ``unknown`` (never terminal, never a failure).
3. Exit in the status file -> ``succeeded`` / ``failed`` / ``killed``,
   whatever the runner says; except an exit by one of the runner's
   requeue signals (Slurm: TERM) while the runner still holds the job, or
   cannot be asked: the run was preempted or requeued and the job lives on
   under the same id (the status file shows a new start when it runs again).
4. ``submitting`` with no runner id in the file and the agent saying the
   submission never reached the runner -> ``submit-failed``.
5. Runner query failed -> progress from the file only; never worse.
6. Runner: pending -> ``submitted`` (again, after a requeue); running ->
   ``running`` once the wrapper started; done with an exit -> ``failed``
   (or ``killed``) "from the runner"; gone (or done without an exit) ->
   suspect on the first look, ``lost`` (``killed`` if a kill was asked)
   on the second consecutive one.
"""

from __future__ import annotations

from ..host_dataclasses import dataclass, replace
from ..ledger.records import ExitSource, JobRecord
from ..runners.base import RunnerJobInfo, RunnerState
from ..states import JobState
from ..status.facts import StatusFacts
from .evolve import evolve

TYPE_CHECKING = False  # importing typing costs a one-shot command's start: names for mypy only
if TYPE_CHECKING:
    from typing import FrozenSet, Optional

#: consecutive looks at which a job the runner does not know is declared lost
LOST_AFTER_LOOKS = 2

_PROGRESS = {JobState.SUBMITTING: 0, JobState.SUBMITTED: 1, JobState.RUNNING: 2}
# final states that may still have been decided without the status file's exit
_REVISABLE = frozenset({JobState.LOST, JobState.FAILED, JobState.KILLED})


@dataclass(frozen=True)
class RunnerView:
    """The runner's answer about one job: not asked, an answer, or a failed query."""

    info: Optional[RunnerJobInfo] = None
    error: Optional[str] = None

    def __post_init__(self) -> None:
        if self.info is not None and self.error is not None:
            raise ValueError("a runner view is an answer or an error, not both")

    @classmethod
    def not_asked(cls) -> RunnerView:
        return cls()

    @classmethod
    def answered(cls, info: RunnerJobInfo) -> RunnerView:
        return cls(info=info)

    @classmethod
    def failed(cls, error: str) -> RunnerView:
        return cls(error=error)


@dataclass(frozen=True)
class PrevJob:
    """What the ledger held before this look."""

    state: JobState
    kill_requested: bool = False
    forgot_count: int = 0
    exit_source: Optional[ExitSource] = None

    @classmethod
    def of(cls, job: JobRecord) -> PrevJob:
        return cls(job.state, job.kill_requested, job.forgot_count, job.exit_source)


@dataclass(frozen=True)
class Decision:
    """The new view of the job. ``None`` in an exit field means nothing new was learnt."""

    state: JobState
    reason: str
    exit_code: Optional[int] = None
    exit_signal: Optional[str] = None
    exit_source: Optional[ExitSource] = None
    error: Optional[str] = None  # a new error to record (runner query, submission)
    forgot_count: int = 0
    record_forgot: bool = False  # write "runner forgot" into the status file
    runner_id: Optional[str] = None  # the id the status file holds, when it holds one
    host_unreachable: bool = False


def decide(
    facts: Optional[StatusFacts],
    runner: RunnerView,
    prev: PrevJob,
    submit_error: Optional[str] = None,
    requeue_signals: FrozenSet[str] = frozenset(),
) -> Decision:
    """Decide the job's state from one look.

    ``facts``: the status file as the agent read it; None when the host could
    not be reached. ``submit_error``: the agent's word that the submission
    provably never reached the runner (a submit reply with an error and no
    runner id). ``requeue_signals``: the signals by which the job's runner
    ends a run it will requeue (``Runner.preemption_signals``).
    """
    file_id = facts.runner_id if facts is not None else None
    if prev.state.is_final:
        if facts is not None and facts.finished and _revisable(prev):
            decided = _from_file_exit(facts, prev)
            was = "from the runner" if prev.exit_source is ExitSource.RUNNER else "with no exit"
            return replace(
                decided,
                reason=f"{decided.reason}; replaces '{prev.state}' decided {was}"
                " (the status file is the source of truth)",
            )
        return Decision(
            prev.state,
            f"'{prev.state}' is final",
            forgot_count=prev.forgot_count,
            runner_id=file_id,
            host_unreachable=facts is None,
        )
    if facts is None:
        return Decision(
            JobState.UNKNOWN,
            "the host could not be reached",
            error=runner.error,
            forgot_count=prev.forgot_count,
            host_unreachable=True,
        )
    if facts.finished:
        requeued = _requeued_run(facts, runner, prev, requeue_signals)
        if requeued is not None:
            return evolve(requeued, runner_id=file_id)
        return evolve(_from_file_exit(facts, prev), runner_id=file_id)
    if prev.state is JobState.SUBMITTING and file_id is None and submit_error is not None:
        return Decision(
            JobState.SUBMIT_FAILED,
            f"the submission never reached the runner: {submit_error}",
            error=submit_error,
        )
    base = _progress(facts, prev)
    if runner.error is not None:
        return Decision(
            base,
            f"the runner query failed; '{base}' from the status file",
            error=runner.error,
            forgot_count=prev.forgot_count,
            runner_id=file_id,
        )
    if runner.info is None:
        return Decision(
            base,
            f"'{base}' from the status file",
            forgot_count=prev.forgot_count,
            runner_id=file_id,
        )
    return evolve(_from_runner(facts, runner.info, prev, base), runner_id=file_id)


def _requeued_run(
    facts: StatusFacts, runner: RunnerView, prev: PrevJob, requeue_signals: FrozenSet[str]
) -> Optional[Decision]:
    """A signal exit the runner may undo by requeueing: not final while it holds the job."""
    if facts.exit_signal not in requeue_signals or facts.exit_by == "agent":
        return None
    said = f"the status file records signal {facts.exit_signal}"
    if runner.error is not None:
        base = max(_progress(facts, prev), JobState.SUBMITTED, key=_PROGRESS.__getitem__)
        return Decision(
            base,
            f"{said}, and the runner query failed: a requeue cannot be ruled out yet",
            error=runner.error,
            forgot_count=prev.forgot_count,
        )
    info = runner.info
    if info is None or info.state not in (RunnerState.PENDING, RunnerState.RUNNING):
        return None
    own_word = f" ({info.reason})" if info.reason else ""
    if info.state is RunnerState.PENDING:
        return Decision(
            JobState.SUBMITTED,
            f"requeued: {said} and the runner holds the job again{own_word}",
        )
    return Decision(
        JobState.RUNNING,
        f"{said} but the runner still runs the job{own_word}: ending or requeued",
    )


def _revisable(prev: PrevJob) -> bool:
    return prev.state in _REVISABLE and prev.exit_source is not ExitSource.STATUS_FILE


def _progress(facts: StatusFacts, prev: PrevJob) -> JobState:
    """How far the job got, by the file and by what the ledger already knew."""
    seen = []
    if facts.started:
        seen.append(JobState.RUNNING)
    elif facts.runner_id is not None:
        seen.append(JobState.SUBMITTED)
    if prev.state in _PROGRESS:
        seen.append(prev.state)
    return max(seen, key=_PROGRESS.__getitem__, default=JobState.SUBMITTING)


def _from_file_exit(facts: StatusFacts, prev: PrevJob) -> Decision:
    code, signal = facts.exit_code, facts.exit_signal
    if facts.exit == "succeeded":
        return Decision(
            JobState.SUCCEEDED,
            "the status file records success",
            exit_code=0 if code is None else code,
            exit_source=ExitSource.STATUS_FILE,
            forgot_count=prev.forgot_count,
        )
    killed = prev.kill_requested and (signal is not None or facts.exit_by == "agent")
    return Decision(
        JobState.KILLED if killed else JobState.FAILED,
        f"the status file records {_describe_exit(code, signal)}"
        + (" after a kill request" if killed else ""),
        exit_code=code,
        exit_signal=signal,
        exit_source=ExitSource.STATUS_FILE,
        forgot_count=prev.forgot_count,
    )


def _from_runner(
    facts: StatusFacts, info: RunnerJobInfo, prev: PrevJob, base: JobState
) -> Decision:
    own_word = f" ({info.reason})" if info.reason else ""
    if info.state is RunnerState.PENDING:
        if prev.state is JobState.RUNNING or facts.started:
            reason = f"requeued: the job had started and the runner holds it again{own_word}"
        else:
            reason = f"waiting in the runner{own_word}"
        return Decision(JobState.SUBMITTED, reason)
    if info.state is RunnerState.RUNNING:
        if facts.started:
            return Decision(JobState.RUNNING, "the wrapper started and the runner runs it")
        state = max(base, JobState.SUBMITTED, key=_PROGRESS.__getitem__)
        return Decision(state, f"the runner says running{own_word}; the wrapper has not started")
    if info.state is RunnerState.DONE and (info.exit_code is not None or info.signal is not None):
        killed = prev.kill_requested and info.signal is not None
        return Decision(
            JobState.KILLED if killed else JobState.FAILED,
            f"{_describe_exit(info.exit_code, info.signal)} from the runner{own_word}: "
            "the job ended without recording an exit",
            exit_code=info.exit_code,
            exit_signal=info.signal,
            exit_source=ExitSource.RUNNER,
        )
    # gone, or done with nothing known about how: an absence, so look twice
    count = prev.forgot_count + 1
    said = "says the job ended" if info.state is RunnerState.DONE else "no longer knows the job"
    if count < LOST_AFTER_LOOKS:
        return Decision(
            base,
            f"the runner {said}{own_word} and no exit is recorded: will look again",
            forgot_count=count,
        )
    if prev.kill_requested:
        return Decision(
            JobState.KILLED,
            f"a kill was requested and the runner {said}{own_word}; no exit recorded",
            forgot_count=count,
            record_forgot=True,
        )
    return Decision(
        JobState.LOST,
        f"the runner {said}{own_word} ({count} looks) and no exit is recorded",
        forgot_count=count,
        record_forgot=True,
    )


def _describe_exit(code: Optional[int], signal: Optional[str]) -> str:
    if signal is not None:
        return f"signal {signal}"
    if code is not None:
        return f"exit code {code}"
    return "a failure with no exit code"
