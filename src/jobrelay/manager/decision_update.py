"""Turn a reconciliation ``Decision`` into the ledger ``JobUpdate`` that records it."""

from __future__ import annotations

from typing import Optional, Tuple, Union

from ..ledger.records import KEEP, EventKind, EventNote, JobRecord, JobUpdate, Keep
from ..status.facts import StatusFacts
from .reconcile import Decision


def update_for(
    job: JobRecord, decision: Decision, facts: Optional[StatusFacts], now: str
) -> JobUpdate:
    """The update for ``job``; applied only while the job is still in the state judged.

    ``now``: the controller time to note as the start of unreachability.
    """
    unreachable: Union[str, Keep, None] = None
    if decision.host_unreachable:
        unreachable = KEEP if job.unreachable_since is not None else now
    notes: Tuple[EventNote, ...] = ()
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
    )


def _error(decision: Decision, facts: Optional[StatusFacts]) -> Union[str, Keep, None]:
    """A new error is recorded; a clean look at a live job clears the old one
    (the trouble is over); a final job keeps the error it ended with."""
    if decision.error is not None:
        return decision.error
    if facts is not None and not decision.state.is_final:
        return None
    return KEEP
