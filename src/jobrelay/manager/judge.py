"""One pure function from a look at a job to the ledger update that records it.

``judge(job before, look, rules) -> JobUpdate | None``: a ``Look`` is what one
agent call (or SSH-free call) brought back about one job: its typed reply
line, or why there is none. Every rule between the wire and the ledger is
here, and each is a row of the table in tests/test_judge.py:

- the call's trouble (no reply for the job, an error with no status, a host
  that could not be reached, a submit that never started);
- a submission interrupted before the runner took the job;
- the state itself, by the precedence of ``reconcile.decide`` (the status
  file first, then the runner);
- what the update carries besides the state: the host that answered, a
  damaged or missing status file, a kill that failed or was verified, errors
  kept or cleared, the start of unreachability, messages, a runner-forgot
  event.

No I/O and no clock: the caller passes the time in ``Rules``.
"""

from __future__ import annotations

from datetime import datetime
from functools import cached_property

from ..engine.protocol import JobReply
from ..host_dataclasses import dataclass, replace
from ..ledger.records import KEEP, EventKind, EventNote, JobRecord, JobUpdate, Keep
from ..states import JobState
from ..status.facts import StatusFacts
from .reconcile import Decision, PrevJob, RunnerView, decide

INTERRUPTED = "the submission was interrupted before the runner took the job"


@dataclass(frozen=True)
class Look:
    """What one call brought back about one job.

    ``reply``: the job's line, None when none came. ``host``: who answered (or
    was tried). ``unreachable``: the host could not be reached. ``not_started``:
    the call never ran (an install failed): nothing was done. ``call_error``:
    why the call as a whole failed.
    """

    verb: str
    host: str
    reply: JobReply | None = None
    unreachable: bool = False
    not_started: bool = False
    call_error: str | None = None


@dataclass(frozen=True)
class Rules:
    """The context of a judgement: the time, and what the job's runner and platform imply."""

    now: datetime  # aware, UTC
    requeue_signals: frozenset[str] = frozenset()  # Runner.preemption_signals
    #: a job still ``submitting`` with no trace on the host after this long was
    #: interrupted (a concurrent submit may not have reached the host yet)
    submit_grace: float = 120.0

    @cached_property  # one judgement time for a whole batch: formatted once
    def stamp(self) -> str:
        return self.now.strftime("%Y-%m-%dT%H:%M:%SZ")


def judge(job: JobRecord, look: Look, rules: Rules) -> JobUpdate | None:
    """The update to record for ``job`` after ``look``; None: nothing to record."""
    if look.verb == "submit":
        return _after_submit(job, look, rules)
    reply = look.reply
    if reply is None and not look.unreachable:
        return _error_only(job, look.call_error or "no reply for this job")
    if reply is not None and reply.error and reply.status is None:
        return _error_only(job, reply.error)
    facts = reply.status if reply is not None else None
    submit_error = INTERRUPTED if _interrupted(job, reply, rules) else None
    view = _runner_view(reply) if reply is not None else RunnerView.failed(look.call_error or "")
    decision = decide(facts, view, PrevJob.of(job), submit_error, rules.requeue_signals)
    update = _update(job, decision, facts, rules.stamp)
    if job.host is None and reply is not None:
        update = replace(update, host=look.host)  # its submitter died before it heard
    if facts is not None and facts.problems:
        # The file is the source of truth: say plainly that it is damaged.
        shown = "; ".join(facts.problems[:3])
        update = replace(update, error=f"status file {job.job_dir}/job.status: {shown}")
    if facts is not None and not facts.exists and job.state is not JobState.SUBMITTING:
        update = replace(
            update, error=f"no job.status in {job.job_dir} on {look.host}: the job dir is gone"
        )
    if reply is not None and look.verb == "kill":
        update = _after_kill(update, reply)
    return update


def _after_kill(update: JobUpdate, reply: JobReply) -> JobUpdate:
    if reply.error:
        return replace(update, error=f"kill: {reply.error}")
    if reply.kill_verified and (update.state is KEEP or not update.state.is_final):
        # the engine saw the job gone after the kill: no second look is needed
        why = f"killed: {reply.kill_detail}" if reply.kill_detail else "killed"
        return replace(update, state=JobState.KILLED, reason=why)
    return update


def _after_submit(job: JobRecord, look: Look, rules: Rules) -> JobUpdate | None:
    reply = look.reply
    if reply is None:
        if look.not_started:  # nothing ran: ssh never reached a host, or the agent's install failed
            return _submit_failed(job, look.call_error or "the agent did not start")
        if look.unreachable:
            # The connection failed, perhaps after the agent had begun (a master
            # killed mid-call): the job may be with the runner. It stays
            # 'submitting' with the error; a poll reads its status file, and one
            # with no trace is judged interrupted after the grace.
            return _error_only(job, look.call_error or "no host could be reached")
        # The call was cut: the job may have reached the runner. It stays
        # 'submitting' and the next poll reads its status file.
        return None
    if reply.in_progress:
        # Another agent holds its submit lock (one of a controller killed
        # mid-submit): it may reach the runner; a poll reads what it did.
        return _error_only(job, reply.error or "another agent is submitting this job")
    if reply.submit_uncertain and not reply.runner_id:
        # a timed-out submit command is transient, never a failure: the job
        # stays submitting and its status file (its start) settles it later
        return JobUpdate(job.id, error=reply.error, host=look.host, expect_state=job.state)
    # An error with no runner id is the agent's word that this submission
    # never reached the runner; with one, the runner has it despite trouble.
    never = reply.error if not (reply.runner_id or reply.resubmit_refused) else None
    facts = reply.status if reply.status is not None else StatusFacts(exists=False)
    decision = decide(facts, RunnerView.not_asked(), PrevJob.of(job), never)
    update = replace(_update(job, decision, facts, rules.stamp), host=look.host)
    if reply.error and never is None:
        update = replace(update, error=reply.error)
    return update


def _interrupted(job: JobRecord, reply: JobReply | None, rules: Rules) -> bool:
    """A submission that left no runner id and no start, with no agent at work on it."""
    if reply is None or job.state is not JobState.SUBMITTING:
        return False
    facts = reply.status
    if facts is None or facts.runner_id or facts.started or reply.in_progress:
        return False
    return _age(job, rules.now) > rules.submit_grace


def _age(job: JobRecord, now: datetime) -> float:
    try:
        created = datetime.strptime(job.created[:19], "%Y-%m-%dT%H:%M:%S")
    except ValueError:
        return float("inf")
    return (now.replace(tzinfo=None) - created).total_seconds()


def _runner_view(reply: JobReply) -> RunnerView:
    if reply.runner_error is not None:
        return RunnerView.failed(reply.runner_error)
    if reply.runner is not None:
        return RunnerView.answered(reply.runner)
    return RunnerView.not_asked()


def _update(job: JobRecord, decision: Decision, facts: StatusFacts | None, now: str) -> JobUpdate:
    """The update recording ``decision``; applied only while the job is still in
    the state judged."""
    unreachable: str | Keep | None = None
    if decision.host_unreachable:
        unreachable = KEEP if job.unreachable_since is not None else now
    notes: tuple[EventNote, ...] = ()
    if decision.record_forgot:
        notes = (EventNote(EventKind.RUNNER_FORGOT, decision.reason),)
    has_exit = decision.exit_source is not None
    return JobUpdate(
        job_id=job.id,
        state=decision.state,
        reason=decision.reason,
        exit_code=decision.exit_code if has_exit else KEEP,
        exit_signal=decision.exit_signal if has_exit else KEEP,
        exit_source=decision.exit_source if has_exit else KEEP,
        error=_error(decision, facts),
        runner_id=decision.runner_id if decision.runner_id is not None else KEEP,
        forgot_count=decision.forgot_count,
        unreachable_since=unreachable,
        messages=facts.messages if facts is not None else (),
        notes=notes,
        expect_state=job.state,
        start_time=facts.start_time if facts is not None and facts.start_time else KEEP,
        exit_time=_exit_time(facts),
    )


def _exit_time(facts: StatusFacts | None) -> str | Keep | None:
    """The job's own end time; cleared when the file shows it running again (requeued)."""
    if facts is None or not facts.exists:
        return KEEP
    if facts.exit_time:
        return facts.exit_time
    return None if facts.start_time else KEEP


def _error(decision: Decision, facts: StatusFacts | None) -> str | Keep | None:
    """A new error is recorded; a clean look at a live job clears the old one
    (the trouble is over); a final job keeps the error it ended with."""
    if decision.error is not None:
        return decision.error
    if facts is not None and not decision.state.is_final:
        return None
    return KEEP


def _submit_failed(job: JobRecord, why: str) -> JobUpdate:
    return JobUpdate(
        job_id=job.id, state=JobState.SUBMIT_FAILED, reason=why, error=why, expect_state=job.state
    )


def _error_only(job: JobRecord, why: str) -> JobUpdate:
    return JobUpdate(job_id=job.id, error=why, reason=why, expect_state=job.state)
