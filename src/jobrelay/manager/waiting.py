"""Poll until jobs are final.

Each job is polled on its own schedule (``schedule.py``): short delays at
first, growing while the job does not change, up to a ceiling by its state
and platform, tighter near its time limit; a change brings the jobs of its
kind forward (while jobs are ending, the last of them is seen soon after it
ends). The jobs due at one moment are polled together.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence

from ..ledger.records import JobRecord
from .controller import Controller
from .schedule import FIRST_DELAY, GROWTH, PollSchedule

__all__ = ["FIRST_DELAY", "GROWTH", "MAX_DELAY", "wait_final"]

# the one delay ceiling of a loop that polls all its jobs together (stream/hub.py);
# wait_final's jobs each have their own (schedule.py)
MAX_DELAY = 5.0


async def wait_final(
    controller: Controller,
    job_ids: Sequence[int],
    timeout: float | None = None,
    on_poll: Callable[[list[JobRecord]], None] | None = None,
    max_delay: float | None = None,
) -> list[JobRecord]:
    """Return the jobs once all are final, or when ``timeout`` runs out (having
    polled at least once: ``timeout=0`` is one look, not none).

    ``max_delay``: no job waits longer than this between polls (the
    platforms' ceilings apply below it)."""
    deadline = None if timeout is None else time.monotonic() + timeout
    schedule = PollSchedule(controller.platforms, max_delay)
    polled_once = False
    while True:
        jobs = controller.ledger.find(ids=job_ids)
        pending = [j for j in jobs if not j.state.is_final]
        if not pending:
            return jobs
        now = time.monotonic()
        if deadline is not None and polled_once and now >= deadline:
            return jobs
        pause = max(0.0, schedule.next_due(pending, now) - now)
        if deadline is not None:
            pause = min(pause, max(0.0, deadline - now))
        await asyncio.sleep(pause)
        now = time.monotonic()
        # the first look asks about every job; then those due (a timeout's last look too)
        due = pending if not polled_once else schedule.pick(pending, now)
        polled = await controller.poll(due)
        polled_once = True
        schedule.observe(polled, time.monotonic())
        if on_poll is not None:
            on_poll(polled)
