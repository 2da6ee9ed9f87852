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

from ..ledger.records import JobRecord
from ..ledger.store import Ledger
from ..platforms.model import Platform
from ..state_dir import ready_home_text
from ..states import JobState
from .exits import OK
from .here import with_bar, work_here
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
    # asked: not final, or lost (a late exit replaces lost), as the controller asks;
    # one engine call per platform and host
    groups: dict[tuple[str, str], list[JobRecord]] = {}
    for job in jobs:
        if not job.state.is_final or job.state is JobState.LOST:
            groups.setdefault((job.platform, job.host or ""), []).append(job)
    asked = sum(len(members) for members in groups.values())
    fresh = with_bar("poll", asked, lambda step: poll_groups(ledger, platforms, groups, step))
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

    home = ready_home_text()
    fresh: dict[int, JobRecord] = {}
    for (name, _), members in groups.items():
        fresh.update((j.id, j) for j in poll_jobs(ledger, platforms[name], members, home=home))
        if progress is not None:
            progress(len(members))
    return fresh
