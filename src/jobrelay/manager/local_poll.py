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
from .agent_reply import AgentReply
from .budget import RunnerBudget, endpoint_of, host_bound, query_rate
from .in_process import call_in_process
from .judge import Look
from .recording import job_request, record_reply

TYPE_CHECKING = False  # importing typing costs a one-shot command's start: names for mypy only
if TYPE_CHECKING:
    from os import PathLike
    from typing import Callable


def polls_here(platform: Platform) -> bool:
    """Whether this platform's jobs can be polled in this process."""
    return platform.transport is TransportKind.LOCAL


def poll_here(
    ledger: Ledger,
    platform: Platform,
    jobs: list[JobRecord],
    observe: Callable[[int, Look], None] | None = None,
    home: str | PathLike[str] | None = None,
) -> list[JobRecord]:
    """One in-process poll of ``jobs`` (all of ``platform``); the jobs as now recorded.

    Final jobs are not asked about (as the controller's poll), except ``lost``
    ones, which a later look may still find. ``home``: the state dir whose
    polling budget the runner query counts against (a local Slurm client:
    ecFlow starts one of these per task); None: no budget.
    """
    asked = [job for job in jobs if not job.state.is_final or job.state is JobState.LOST]
    if not asked:
        return jobs
    host = asked[0].host or platform.hosts[0]
    requests = [job_request(ledger, j) for j in asked]
    if home is None or query_rate(platform).unlimited:
        reply = call_in_process(platform, host, "poll", requests)
        fresh = record_reply(ledger, platform, "poll", asked, reply, observe=observe)
        return [fresh.get(job.id, job) for job in jobs]
    where = f"host:{host}" if host_bound(platform) else f"target:{platform.install_target}"
    from pathlib import Path  # here: a background job's poll has no budget

    budget = RunnerBudget(
        Path(home), endpoint_of(platform, where), platform.runner, query_rate(platform),
        platform.command_timeout,
    )  # fmt: skip
    grant, ticket = budget.grant_blocking(j.runner_id for j in asked if j.runner_id)
    reply = AgentReply(host)
    try:
        reply = call_in_process(platform, host, "poll", requests, grant)
    finally:
        budget.settle(ticket, reply.runner_query, reply.complete)
    fresh = record_reply(ledger, platform, "poll", asked, reply, observe=observe)
    return [fresh.get(job.id, job) for job in jobs]
