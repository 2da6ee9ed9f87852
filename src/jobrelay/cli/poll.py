"""`poll`: in this process when every job is on a local platform, else
through the controller.

Jobs whose files are on this machine are polled by the engine in this
process, one call per platform and host (``manager/local_poll.py``, as ``status``
does): no asyncio, no controller, no agent process. Any job reached over
SSH or SSH-free, or whose platform left the config (the controller words
its error), sends the whole command through the controller (``job_verbs``).
"""

from __future__ import annotations

import argparse
import sys

from ..ledger.records import JobRecord
from ..ledger.store import Ledger
from ..platforms.model import Platform
from ..state_dir import ready_home_text
from ..states import JobState
from .exits import OK
from .here import work_here
from .report import errors_of, report
from .targets import chosen

TYPE_CHECKING = False  # importing typing costs a one-shot command's start: names for mypy only
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping


def cmd_poll(args: argparse.Namespace) -> int:
    code = work_here(args, lambda ledger: chosen(ledger, args), poll_here)
    if code is not None:
        return code
    from .job_verbs import poll, with_controller

    return with_controller(args, poll)


def poll_here(
    ledger: Ledger,
    platforms: Mapping[str, Platform],
    jobs: list[JobRecord],
    args: argparse.Namespace,
) -> int:
    before = errors_of(jobs)
    groups: dict[tuple[str, str], list[JobRecord]] = {}  # one call per platform and host
    for job in jobs:
        groups.setdefault((job.platform, job.host or ""), []).append(job)
    # asked: not final, or lost (a late exit replaces lost), as the controller asks
    asked = sum(1 for j in jobs if not j.state.is_final or j.state is JobState.LOST)
    if asked and sys.stderr.isatty():  # a bar on a terminal (rich, asyncio with it)
        from .progress import Bar

        with Bar("poll", asked) as bar:
            fresh = poll_groups(ledger, platforms, groups, bar.advance)
    else:
        fresh = poll_groups(ledger, platforms, groups, None)
    report([fresh.get(job.id, job) for job in jobs], args.json, before)
    return OK


def poll_groups(
    ledger: Ledger,
    platforms: Mapping[str, Platform],
    groups: dict[tuple[str, str], list[JobRecord]],
    progress: Callable[[int], None] | None,
) -> dict[int, JobRecord]:
    """Each group's jobs in one engine call here; the jobs as now recorded."""
    from ..manager.local_poll import poll_here as poll_jobs

    fresh: dict[int, JobRecord] = {}
    for (name, _), members in groups.items():
        fresh.update(
            (j.id, j) for j in poll_jobs(ledger, platforms[name], members, home=ready_home_text())
        )
        if progress is not None:
            progress(len(members))
    return fresh
