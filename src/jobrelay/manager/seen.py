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

from dataclasses import dataclass, replace
from typing import Any

from ..agent.protocol import JobRequest
from ..ledger.records import JobRecord
from ..status.facts import StatusFacts
from .replies import facts_from_reply

UNCHANGED_WITHOUT_READ = (
    "the agent said the status file was unchanged since a read this controller has not made"
)


@dataclass(frozen=True)
class Seen:
    stamp: str
    facts: StatusFacts


def plain_request(job: JobRecord) -> JobRequest:
    """A job as any verb but submit asks about it, with no stamp."""
    return JobRequest(job=job.ref, dir=job.job_dir, runner_id=job.runner_id or "")


class SeenFiles:
    """Job id -> the stamp and facts of its status file at the last full read."""

    def __init__(self) -> None:
        self._by_job: dict[int, Seen] = {}

    def __len__(self) -> int:
        return len(self._by_job)

    def poll_request(self, job: JobRecord) -> JobRequest:
        seen = self._by_job.get(job.id)
        if seen is None:
            return plain_request(job)
        facts = seen.facts
        # a finished file is read in full: requeue and late lines matter there
        if facts.finished or not facts.runner_id or not facts.runner_name:
            return plain_request(job)
        return JobRequest(
            job=job.ref,
            dir=job.job_dir,
            runner=facts.runner_name,
            runner_id=facts.runner_id,
            seen=seen.stamp,
        )

    def facts(self, job_id: int, line: dict[str, Any]) -> tuple[StatusFacts | None, str | None]:
        """The facts a reply line stands for, and an error when it cannot stand for any."""
        stamp = line.get("stamp")
        if line.get("unchanged"):
            seen = self._by_job.get(job_id)
            if seen is None or seen.stamp != stamp:
                return None, UNCHANGED_WITHOUT_READ
            # the same file holds no new message: nothing for the ledger to look up
            return replace(seen.facts, messages=()), None
        facts = facts_from_reply(line)
        if facts is not None and isinstance(stamp, str) and stamp:
            self._by_job[job_id] = Seen(stamp, facts)
        else:
            self._by_job.pop(job_id, None)
        return facts, None

    def forget(self, job_ids: list[int]) -> None:
        for job_id in job_ids:
            self._by_job.pop(job_id, None)
