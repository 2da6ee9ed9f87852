"""From a batch call's reply to the ledger: one judgement per job, one write.

Shared by the controller's poll and kill (after an agent, SSH-free or
in-process call) and by the synchronous local poll of one-shot commands, so
that every way of asking records the same thing.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Callable

from ..engine.protocol import JobRequest
from ..ledger.records import JobRecord
from ..ledger.store import Ledger
from ..platforms.model import Platform
from ..runners.registry import RunnerLoadError, runner_class
from .agent_reply import AgentReply
from .judge import Look, Rules, judge
from .stamps import StatusStamps

#: rounds of judging again the jobs another controller changed meanwhile
STALE_ROUNDS = 3


def job_request(ledger: Ledger, job: JobRecord) -> JobRequest:
    """A job as poll and kill ask about it: its dir, its submission, and what
    the ledger knows of its runner."""
    return JobRequest(
        job=job.ref,
        dir=job.job_dir,
        runner=job.runner,
        runner_id=job.runner_id or "",
        identity=ledger.identity(job),
    )


def record_reply(
    ledger: Ledger,
    platform: Platform,
    verb: str,
    batch: list[JobRecord],
    reply: AgentReply,
    stamps: StatusStamps | None = None,
    progress: Callable[[int], None] | None = None,
) -> dict[int, JobRecord]:
    """Judge each job of ``batch`` by ``reply`` and record the updates in one
    transaction; the jobs that changed, as the ledger now holds them."""
    now = datetime.now(UTC)
    looks: dict[int, tuple[Look, Rules]] = {}
    for job in batch:
        line = reply.replies.get(job.ref)
        if line is not None and stamps is not None:
            line = stamps.resolve(job.id, line)
        rules = Rules(now, requeue_signals(job.runner), platform.command_timeout * 2)
        looks[job.id] = (
            Look(verb, reply.host, line, reply.unreachable, call_error=reply.error),
            rules,
        )
    fresh: dict[int, JobRecord] = {}
    todo = list(batch)
    for _ in range(STALE_ROUNDS):
        updates = [u for job in todo if (u := judge(job, *looks[job.id])) is not None]
        if not updates:
            break
        report = ledger.apply(updates)
        fresh.update(report.jobs)
        # Another controller recorded these jobs meanwhile (a poll moved one
        # from submitted to running while our kill ran): what we saw is judged
        # again on what the ledger now holds, never dropped (a verified kill
        # was lost so, the job left running with no word).
        todo = [report.jobs[i] for i in report.stale]
    if stamps is not None:
        stamps.forget([i for i, job in fresh.items() if job.state.is_final])
    if progress:
        progress(len(batch))
    return dict(fresh)


def requeue_signals(runner: str) -> frozenset[str]:
    try:
        return runner_class(runner).preemption_signals
    except RunnerLoadError:
        return frozenset()
