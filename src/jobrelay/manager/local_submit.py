"""Submit jobs to a local platform without an agent process or an event loop.

ecFlow starts one ``jobrelay submit`` per task. On a platform whose job files
are on this machine, the submission's engine call runs here, in a forked
child that finishes it even if this command is killed (``in_process``
``call_detached``): the same steps as the controller's (``submitting``), the
same engine, the same judgement, without importing asyncio and the
controller or starting the agent as a new program. Platforms reached over
SSH or SSH-free go through the controller.
"""

from __future__ import annotations

import time

from ..ledger.records import JobRecord
from ..ledger.store import Ledger
from ..platforms.model import Platform
from .agent_reply import AgentReply, after_tries, cut_short
from .budget import SharedWindow, backoff, submit_rate
from .in_process import call_detached
from .submitting import SubmitItem, create_jobs, record_submit, submit_requests

TYPE_CHECKING = False  # importing typing costs a one-shot command's start: names for mypy only
if TYPE_CHECKING:
    from collections.abc import Callable, Sequence


def submit_here(
    ledger: Ledger,
    platform: Platform,
    items: Sequence[SubmitItem],
    run: str,
    home: str,
    progress: Callable[[int], None] | None = None,
) -> list[JobRecord]:
    """Submit ``items`` to ``platform`` (local transport) from this process; the
    jobs as recorded. Batches and the submit rate as the controller has them
    (``max_batch``, ``submit_rate`` shared through ``home``), and the same
    retries of a call that reached no host."""
    records, texts = create_jobs(ledger, platform, items, run)
    rate = submit_rate(platform)
    size = platform.max_batch if rate.unlimited else min(platform.max_batch, rate.count)
    done: list[JobRecord] = []
    for start in range(0, len(records), size):
        batch = records[start : start + size]
        if not rate.unlimited:
            from pathlib import Path  # here: a background platform has no submit rate

            SharedWindow(Path(home), f"submit@{platform.name}", rate).take_blocking(len(batch))
        requests = submit_requests(ledger, batch, texts)
        reply, cut = AgentReply("?", unreachable=True), False
        for attempt in range(platform.submit_retry_budget + 1):
            reply = after_tries(call_detached(platform, platform.hosts[0], "submit", requests), cut)
            cut = cut or cut_short(reply)
            if not (reply.unreachable and not reply.replies):
                break
            if attempt < platform.submit_retry_budget:  # no sleep after the last try
                time.sleep(backoff(attempt))
        done.extend(record_submit(ledger, platform, batch, reply))
        if progress:
            progress(len(batch))
    return done
