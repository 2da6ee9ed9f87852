"""Poll delays by state while waiting (manager/schedule.py): pure, the clock given."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from jobrelay.ledger.records import JobRecord
from jobrelay.manager.schedule import (
    FIRST_DELAY,
    HOST_CEILING,
    NEWS_DELAY,
    SCHEDULER_RUNNING,
    SCHEDULER_SUBMITTED,
    PollSchedule,
)
from jobrelay.platforms.model import Platform
from jobrelay.states import JobState

PLATFORMS = {
    "hpc": Platform(name="hpc", runner="slurm"),
    "bg": Platform(name="bg", runner="background"),
    "tuned": Platform(name="tuned", runner="slurm", poll_submitted=20.0, poll_running=7.0),
}


def job(job_id: int, platform: str = "hpc", state: JobState = JobState.SUBMITTED) -> JobRecord:
    return JobRecord(
        id=job_id, run="r", name="j", submit_num=1, platform=platform, host=None,
        install_target="t", runner=PLATFORMS[platform].runner, runner_id="1",
        job_dir="r/jobs/1-j", state=state, exit_code=None, exit_signal=None,
        exit_source=None, error=None, kill_requested=False, forgot_count=0,
        unreachable_since=None, script_path="/s.sh", directives={}, env={},
        created="2026-01-01T00:00:00Z", updated="2026-01-01T00:00:00Z",
    )  # fmt: skip


def settle(schedule: PollSchedule, jobs: list[JobRecord], polls: int) -> float:
    """Observe the same jobs ``polls`` times, each when due; the clock at the end."""
    now = 0.0
    for _ in range(polls):
        schedule.observe(jobs, now)
        now = schedule.next_due(jobs, now)
    return now


def test_delays_grow_to_the_ceiling_of_the_state_and_runner() -> None:
    schedule = PollSchedule(PLATFORMS)
    jobs = [
        job(1, "hpc", JobState.SUBMITTED),
        job(2, "hpc", JobState.RUNNING),
        job(3, "bg", JobState.RUNNING),
        job(4, "tuned", JobState.SUBMITTED),
        job(5, "tuned", JobState.RUNNING),
    ]
    settle(schedule, jobs, 40)
    assert schedule.delay == {
        1: SCHEDULER_SUBMITTED,
        2: SCHEDULER_RUNNING,
        3: HOST_CEILING,
        4: 20.0,
        5: 7.0,
    }
    capped = PollSchedule(PLATFORMS, max_delay=2.0)
    settle(capped, jobs, 40)
    assert set(capped.delay.values()) == {2.0}


def test_a_change_starts_over_and_brings_its_kind_forward() -> None:
    schedule = PollSchedule(PLATFORMS)
    a, b, other = job(1), job(2), job(3, "bg")
    now = settle(schedule, [a, b, other], 30)
    assert schedule.delay[2] == SCHEDULER_SUBMITTED
    schedule.observe([replace(a, state=JobState.RUNNING), b, other], now)
    assert schedule.delay[1] == FIRST_DELAY
    assert schedule.due[2] == now + NEWS_DELAY  # b, still submitted on hpc, comes forward
    assert schedule.due[3] == now + HOST_CEILING  # another platform's job does not


def test_near_the_time_limit_polls_tighten() -> None:
    schedule = PollSchedule(PLATFORMS)
    started = datetime.now(UTC) - timedelta(seconds=3590)
    near = replace(
        job(1, state=JobState.RUNNING),
        directives={"time_limit": 3600},
        start_time=started.isoformat().replace("+00:00", "Z"),
    )
    far = replace(near, id=2, directives={"time_limit": 36000})
    settle(schedule, [near, far], 40)
    assert schedule.delay[1] == PLATFORMS["hpc"].poll_near_limit
    assert schedule.delay[2] == SCHEDULER_RUNNING


def test_jobs_nearly_due_ride_along() -> None:
    schedule = PollSchedule(PLATFORMS)
    a, b = job(1), job(2)
    schedule.observe([a], 0.0)
    schedule.observe([b], 0.01)  # due a moment after a
    assert schedule.pick([a, b], schedule.next_due([a, b], 0.0)) == [a, b]
    schedule.observe([b], 100.0)
    assert schedule.pick([a, b], schedule.next_due([a, b], 0.0)) == [a]
