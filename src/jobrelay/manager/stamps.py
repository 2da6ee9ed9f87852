"""What the controller last read of each job's status file, to skip re-reading it.

A poll reply carries the file's stamp (inode, size, modification time). The
next poll sends it back as ``seen``; while the file keeps that stamp the agent
neither reads nor sends it, and the facts kept here stand for it. For a
scheduler polling thousands of running jobs, most files have not changed
since the last look, so the poll then costs a ``stat`` and a runner query per
job, not a parse and a few hundred bytes of JSON each way.

Kept in memory only: a new controller reads every file once, then skips.
"""

from __future__ import annotations

from ..engine.protocol import JobReply, JobRequest
from ..host_dataclasses import dataclass, replace
from ..status.facts import StatusFacts
from .evolve import evolve

UNCHANGED_WITHOUT_READ = (
    "the agent said the status file was unchanged since a read this controller has not made"
)


@dataclass(frozen=True)
class Seen:
    stamp: str
    facts: StatusFacts  # as read, without its messages (they are in the ledger already)


class StatusStamps:
    """Job id -> the stamp and facts of its status file at the last full read."""

    def __init__(self) -> None:
        self._by_job: dict[int, Seen] = {}

    def __len__(self) -> int:
        return len(self._by_job)

    def seen(self, job_id: int) -> Seen | None:
        """The last read of the job's file (a new object after each read)."""
        return self._by_job.get(job_id)

    def request(self, job_id: int, plain: JobRequest) -> JobRequest:
        """``plain`` with the stamp of the last read, when a skip is safe."""
        seen = self._by_job.get(job_id)
        if seen is None:
            return plain
        facts = seen.facts
        # a finished file is read in full: requeue and late lines matter there
        if facts.finished or not facts.runner_id or not facts.runner_name:
            return plain
        return evolve(plain, runner=facts.runner_name, runner_id=facts.runner_id, seen=seen.stamp)

    def resolve(self, job_id: int, reply: JobReply) -> JobReply:
        """The reply as if the file had been read: an "unchanged" one gets the facts
        kept here (with no messages: they are in the ledger already)."""
        if reply.unchanged:
            seen = self._by_job.get(job_id)
            if seen is None or seen.stamp != reply.stamp:
                return replace(reply, unchanged=False, error=UNCHANGED_WITHOUT_READ)
            return evolve(reply, unchanged=False, status=seen.facts)
        if reply.status is not None and reply.stamp:
            quiet = replace(reply.status, messages=()) if reply.status.messages else reply.status
            self._by_job[job_id] = Seen(reply.stamp, quiet)
        else:
            self._by_job.pop(job_id, None)
        return reply

    def forget(self, job_ids: list[int]) -> None:
        for job_id in job_ids:
            self._by_job.pop(job_id, None)
