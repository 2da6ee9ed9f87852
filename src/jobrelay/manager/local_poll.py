"""Poll jobs of a local platform without an agent process or an event loop.

``jobrelay status JOB`` is started once per task by ecFlow: on a platform
whose job files are on this machine, its one poll runs the engine in this
process (``in_process``) and records through the same judgement as every
other poll (``recording``). Platforms reached over SSH or SSH-free go
through the controller.
"""

from __future__ import annotations

from ..ledger.records import JobRecord
from ..ledger.store import Ledger
from ..platforms.model import Platform, TransportKind
from ..states import JobState
from .in_process import call_in_process
from .recording import job_request, record_reply


def polls_here(platform: Platform) -> bool:
    """Whether this platform's jobs can be polled in this process."""
    return platform.transport is TransportKind.LOCAL


def poll_here(ledger: Ledger, platform: Platform, jobs: list[JobRecord]) -> list[JobRecord]:
    """One in-process poll of ``jobs`` (all of ``platform``); the jobs as now recorded.

    Final jobs are not asked about (as the controller's poll), except ``lost``
    ones, which a later look may still find.
    """
    asked = [job for job in jobs if not job.state.is_final or job.state is JobState.LOST]
    if not asked:
        return jobs
    host = asked[0].host or platform.hosts[0]
    reply = call_in_process(platform, host, "poll", [job_request(ledger, j) for j in asked])
    fresh = record_reply(ledger, platform, "poll", asked, reply)
    return [fresh.get(job.id, job) for job in jobs]
