"""From a batch call's reply to the ledger: one judgement per job, one write.

Shared by the controller's poll and kill (after an agent, SSH-free or
in-process call) and by the synchronous local poll of one-shot commands, so
that every way of asking records the same thing.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Callable

from ..engine.protocol import JobReply, JobRequest
from ..ledger.changes import changes_nothing
from ..ledger.records import JobRecord
from ..ledger.store import Ledger
from ..platforms.model import Platform
from ..runners.registry import RunnerLoadError, runner_class
from .agent_reply import AgentReply
from .judge import Look, Rules, judge
from .quiet import QuietJobs
from .stamps import StatusStamps

#: times a stale update is judged again (each retry follows another command's write)
STALE_RETRIES = 5


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
    observe: Callable[[int, Look], None] | None = None,
    quiet: QuietJobs | None = None,
) -> dict[int, JobRecord]:
    """Judge each job of ``batch`` by ``reply`` and record the updates in one
    transaction; the jobs that changed, as the ledger now holds them.

    An update judged against a state another command changed meanwhile (a
    poll during a kill) is stale: it is judged again against the job as the
    ledger now holds it, not dropped. ``observe`` is shown each job's look
    (the status command reports it). ``quiet``: jobs whose look is the one
    last judged to change nothing are not judged again."""
    now = datetime.now(UTC)
    looks: dict[int, tuple[Look, Rules]] = {}
    by_runner: dict[str, Rules] = {}  # one per runner: its time is formatted once
    if quiet is not None and (
        verb != "poll" or observe is not None or reply.error or reply.unreachable
    ):
        quiet = None  # only a clean poll nobody watches job by job skips judging
    asked: dict[int, JobReply] = {}  # the lines as they came, for ``quiet``
    for job in batch:
        line = reply.replies.get(job.ref)
        if line is not None and quiet is not None:
            if quiet.unchanged(job, reply.host, line):
                continue
            asked[job.id] = line
        if line is not None and stamps is not None:
            line = stamps.resolve(job.id, line)
        rules = by_runner.get(job.runner)
        if rules is None:
            rules = by_runner[job.runner] = Rules(
                now, requeue_signals(job.runner), platform.command_timeout * 2
            )
        look = Look(verb, reply.host, line, reply.unreachable, call_error=reply.error)
        if observe is not None:
            observe(job.id, look)
        looks[job.id] = (look, rules)
    fresh: dict[int, JobRecord] = {}
    jobs = [j for j in batch if j.id in looks]
    for attempt in range(STALE_RETRIES):
        # a poll of thousands of unchanged jobs writes nothing and reads nothing back
        updates = []
        for j in jobs:
            u = judge(j, *looks[j.id])
            if u is not None and not changes_nothing(j, u):
                updates.append(u)
            elif quiet is not None and attempt == 0 and j.id in asked:
                quiet.remember(j, reply.host, asked[j.id])
        if not updates:
            break
        report = ledger.apply(updates)
        fresh.update(report.jobs)
        jobs = [report.jobs[i] for i in report.stale]
        if not jobs:
            break
    if stamps is not None:
        stamps.forget([i for i, job in fresh.items() if job.state.is_final])
    if quiet is not None:
        quiet.forget(list(fresh))
    if progress:
        progress(len(batch))
    return fresh


def requeue_signals(runner: str) -> frozenset[str]:
    try:
        return runner_class(runner).preemption_signals
    except RunnerLoadError:
        return frozenset()
