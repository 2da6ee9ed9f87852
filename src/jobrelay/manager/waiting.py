"""Poll until jobs are final, with a delay that grows: quick jobs are seen quickly,
long ones do not hammer the hosts."""

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
    """Return the jobs once all are final, or when ``timeout`` runs out."""
    deadline = None if timeout is None else time.monotonic() + timeout
    delay = FIRST_DELAY
    while True:
        jobs = controller.ledger.find(ids=job_ids)
        pending = [j for j in jobs if not j.state.is_final]
        if not pending:
            return jobs
        if deadline is not None and time.monotonic() >= deadline:
            return jobs
        pause = delay if deadline is None else min(delay, max(0.0, deadline - time.monotonic()))
        await asyncio.sleep(pause)
        delay = min(delay * GROWTH, max_delay)
        polled = await controller.poll(pending)
        if on_poll is not None:
            on_poll(polled)
