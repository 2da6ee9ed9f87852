"""`jobrelay watch`: a live table of a run's jobs, polled until all are final."""

from __future__ import annotations

import asyncio
import sys
from collections import Counter

from ..manager.controller import Controller
from . import render

CLEAR = "\x1b[H\x1b[2J"


async def watch(controller: Controller, run: str | None, interval: float) -> int:
    tty = sys.stdout.isatty()
    while True:
        jobs = controller.ledger.find(run=run)
        pending = [j for j in jobs if not j.state.is_final]
        if pending:
            await controller.poll(pending)
            jobs = controller.ledger.find(run=run)
        counts = Counter(j.state.value for j in jobs)
        summary = "  ".join(f"{state}: {n}" for state, n in sorted(counts.items()))
        frame = render.table(jobs) + f"\n{len(jobs)} jobs  {summary}\n"
        sys.stdout.write((CLEAR if tty else "") + frame)
        sys.stdout.flush()
        if all(j.state.is_final for j in jobs):
            return 0
        await asyncio.sleep(interval)
