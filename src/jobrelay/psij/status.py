"""jobrelay's job states as PSI/J's.

``submitting`` and ``unknown`` say nothing PSI/J can use (not yet known to
the runner; the host did not answer): no PSI/J change. A job jobrelay calls
``lost`` (the runner forgot it, no exit recorded) or ``submit-failed`` is
PSI/J's FAILED, with the reason as its message.
"""

from __future__ import annotations

import time

from psij import JobState, JobStatus

from jobrelay.ledger.records import JobRecord
from jobrelay.states import JobState as RelayState

STATES = {
    RelayState.SUBMITTED: JobState.QUEUED,
    RelayState.RUNNING: JobState.ACTIVE,
    RelayState.SUCCEEDED: JobState.COMPLETED,
    RelayState.FAILED: JobState.FAILED,
    RelayState.SUBMIT_FAILED: JobState.FAILED,
    RelayState.KILLED: JobState.CANCELED,
    RelayState.LOST: JobState.FAILED,
}


def psij_status(job: JobRecord) -> JobStatus | None:
    """``job``'s state for PSI/J, or None when there is nothing to tell."""
    state = STATES.get(job.state)
    if state is None:
        return None
    message = None
    if job.state is RelayState.FAILED:
        message = f"killed by signal {job.exit_signal}" if job.exit_signal else job.error
    elif job.state in (RelayState.SUBMIT_FAILED, RelayState.LOST):
        message = f"{job.state.value}: {job.error or 'no exit recorded'}"
    exit_code = job.exit_code if state.final else None
    return JobStatus(
        state,
        time=time.time(),
        message=message,
        exit_code=exit_code,
        metadata={"nativeId": job.ref, "jobrelay_state": job.state.value},
    )
