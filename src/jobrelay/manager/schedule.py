"""When each job is polled next, while a controller waits for jobs.

Each job has its own delay: it starts short, grows by half at each poll that
finds the job as it was, up to a ceiling by state (``poll_submitted``,
``poll_running``: platform keys), and drops back when the job changes. When
a job of a platform changes state, its platform's other jobs in the state it
left are polled within ``NEWS_DELAY`` (jobs tend to end together). Near a
job's time limit (from ``NEAR_BEFORE`` before it to ``NEAR_AFTER`` after)
the delay is at most ``poll_near_limit``: the scheduler ends the job then.
Jobs due within a quarter of their delay ride along with a poll, so polls
stay few and large (one agent call, one runner query for many).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime

from ..host_dataclasses import dataclass
from ..ledger.records import JobRecord
from ..platforms.model import Platform
from ..states import JobState
from .budget import host_bound

FIRST_DELAY = 0.05
GROWTH = 1.5
NEWS_DELAY = 1.0
NEAR_BEFORE = 60.0  # seconds before a job's time limit when polls tighten
NEAR_AFTER = 120.0  # ... and after it (the scheduler's kill and its grace)
HOST_CEILING = 5.0  # background and at: the host's own process table, no server
SCHEDULER_SUBMITTED = 60.0  # batch jobs wait in the queue for minutes
SCHEDULER_RUNNING = 30.0


@dataclass(frozen=True)
class Ceilings:
    submitted: float
    running: float
    near_limit: float


def ceilings(platform: Platform) -> Ceilings:
    """The platform's delay ceilings, its own or its runner's defaults."""
    bound = host_bound(platform)
    submitted = HOST_CEILING if bound else SCHEDULER_SUBMITTED
    running = HOST_CEILING if bound else SCHEDULER_RUNNING
    return Ceilings(
        platform.poll_submitted if platform.poll_submitted is not None else submitted,
        platform.poll_running if platform.poll_running is not None else running,
        platform.poll_near_limit,
    )


class PollSchedule:
    """Per-job delays for a waiting loop; the clock is the caller's (seconds)."""

    def __init__(self, platforms: Mapping[str, Platform], max_delay: float | None = None) -> None:
        self._ceilings = {name: ceilings(p) for name, p in platforms.items()}
        self.max_delay = max_delay  # an overall cap (tests, the CLI's --max-delay)
        self.delay: dict[int, float] = {}
        self.due: dict[int, float] = {}
        self.state: dict[int, JobState] = {}
        self.platform: dict[int, str] = {}

    def pick(self, jobs: Iterable[JobRecord], now: float) -> list[JobRecord]:
        """The jobs to poll now: those due, and those nearly due."""
        return [
            j
            for j in jobs
            if self.due.get(j.id, now) <= now + self.delay.get(j.id, FIRST_DELAY) / 4
        ]

    def next_due(self, jobs: Iterable[JobRecord], now: float) -> float:
        """When the next poll is due; a job never polled, one first delay from now."""
        return min((self.due.get(j.id, now + FIRST_DELAY) for j in jobs), default=now)

    def observe(self, polled: Iterable[JobRecord], now: float) -> None:
        """After a poll: each job's next delay; news brings its kind forward."""
        polled = list(polled)
        news: set[tuple[str, JobState]] = set()
        for job in polled:
            before = self.state.get(job.id)
            if before is not None and before is not job.state:
                news.add((job.platform, before))
        for job in polled:
            before = self.state.get(job.id)
            self.state[job.id] = job.state
            self.platform[job.id] = job.platform
            if before is None or before is not job.state:
                delay = FIRST_DELAY
            else:
                delay = min(self.delay.get(job.id, FIRST_DELAY) * GROWTH, self.ceiling(job))
            self.delay[job.id] = delay
            self.due[job.id] = now + delay
        if news:
            for job_id, state in self.state.items():
                if (self.platform[job_id], state) in news:
                    self.due[job_id] = min(self.due[job_id], now + NEWS_DELAY)

    def ceiling(self, job: JobRecord) -> float:
        limits = self._ceilings.get(job.platform) or Ceilings(HOST_CEILING, HOST_CEILING, 5.0)
        top = limits.running if job.state is JobState.RUNNING else limits.submitted
        if job.state is JobState.RUNNING and near_limit(job):
            top = min(top, limits.near_limit)
        if self.max_delay is not None:
            top = min(top, self.max_delay)
        return max(top, FIRST_DELAY)


def near_limit(job: JobRecord, now: datetime | None = None) -> bool:
    """The job runs and its time limit is less than NEAR_BEFORE away (or just past)."""
    limit = job.directives.get("time_limit") if job.directives else None
    if not isinstance(limit, int | float) or not job.start_time:
        return False
    try:
        started = datetime.fromisoformat(job.start_time)
    except ValueError:
        return False
    now = now or datetime.now(started.tzinfo)
    elapsed = (now - started).total_seconds()
    return limit - NEAR_BEFORE <= elapsed <= limit + NEAR_AFTER
