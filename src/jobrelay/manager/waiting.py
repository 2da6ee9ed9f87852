"""Poll until jobs are final.

The delay between polls grows while nothing changes (long jobs do not
hammer the hosts) and drops back to the first delay when a poll finds news:
while jobs are ending, the last of them is seen soon after it ends, not up
to half the elapsed time later.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence

from ..ledger.records import JobRecord
from .controller import Controller

FIRST_DELAY = 0.05
MAX_DELAY = 5.0
GROWTH = 1.5


async def wait_final(
    controller: Controller,
    job_ids: Sequence[int],
    timeout: float | None = None,
    on_poll: Callable[[list[JobRecord]], None] | None = None,
    max_delay: float = MAX_DELAY,
) -> list[JobRecord]:
    """Return the jobs once all are final, or when ``timeout`` runs out (having
    polled at least once: ``timeout=0`` is one look, not none)."""
    deadline = None if timeout is None else time.monotonic() + timeout
    delay = FIRST_DELAY
    polled_once = False
    while True:
        jobs = controller.ledger.find(ids=job_ids)
        pending = [j for j in jobs if not j.state.is_final]
        if not pending:
            return jobs
        if deadline is not None and polled_once and time.monotonic() >= deadline:
            return jobs
        pause = delay if deadline is None else min(delay, max(0.0, deadline - time.monotonic()))
        await asyncio.sleep(pause)
        polled = await controller.poll(pending)
        polled_once = True
        news = any(new.state is not old.state for new, old in zip(polled, pending, strict=True))
        delay = FIRST_DELAY if news else min(delay * GROWTH, max_delay)
        if on_poll is not None:
            on_poll(polled)
