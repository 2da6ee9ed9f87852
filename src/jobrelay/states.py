"""Job states: the contract every layer and every user script relies on."""

from __future__ import annotations

import enum


class JobState(str, enum.Enum):
    """State of one job submission, as the ledger and the CLI report it.

    ``submitting`` is transient: the ledger holds the job, the runner's answer
    is not known yet. A poll settles it (to ``submitted`` or later when the
    status file holds a runner id, to ``submit-failed`` when it provably never
    reached the runner).
    """

    SUBMITTING = "submitting"
    SUBMITTED = "submitted"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    SUBMIT_FAILED = "submit-failed"
    KILLED = "killed"
    LOST = "lost"
    UNKNOWN = "unknown"

    @property
    def is_final(self) -> bool:
        return self in FINAL_STATES

    def __str__(self) -> str:
        return self.value


FINAL_STATES = frozenset(
    {JobState.SUCCEEDED, JobState.FAILED, JobState.SUBMIT_FAILED, JobState.KILLED, JobState.LOST}
)
