"""One state change of one job, as the ledger's state events record it."""

from __future__ import annotations

from ..host_dataclasses import dataclass
from ..ledger.records import Event, JobRecord
from ..states import JobState


@dataclass(frozen=True)
class StateChange:
    """``job`` went from ``old`` to ``new`` (ledger event ``event_id``, at ``time``).

    ``job`` is the job as the ledger held it when the change was read: when
    one poll found several changes it may already be past ``new``; the
    change that ends the job comes with its exit code and signal.
    """

    job: JobRecord
    old: JobState
    new: JobState
    reason: str
    time: str
    event_id: int

    @property
    def ref(self) -> str:
        return self.job.ref

    def __str__(self) -> str:
        tail = f": {self.reason}" if self.reason else ""
        return f"{self.job.ref} {self.job.name}: {self.old.value} -> {self.new.value}{tail}"


def parse_state_event(event: Event, job: JobRecord) -> StateChange:
    """A ledger state event (``"old -> new: reason"``, ledger/changes.py) as a change.

    Raises ValueError for a detail that is not in that form.
    """
    states, _, reason = event.detail.partition(": ")
    old, arrow, new = states.partition(" -> ")
    if not arrow:
        raise ValueError(f"job {job.ref}: event {event.id} is not a state change: {event.detail!r}")
    return StateChange(job, JobState(old), JobState(new), reason, event.time, event.id)
