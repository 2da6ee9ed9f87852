"""`kill`: in this process when every job is on a local platform, else
through the controller.

ecFlow starts one ``jobrelay kill`` per task it kills. Jobs whose files are on
this machine need one engine call per platform and host
(``manager/local_kill.py``): no asyncio, no controller, no agent process.
Any job reached over SSH or SSH-free, or whose platform left the config
(the controller words its error), sends the whole command through the
controller (``job_verbs``). Both end the same way (``kill_outcome``).
"""

from __future__ import annotations

import argparse
import sys

from ..ledger.records import JobRecord
from ..ledger.store import Ledger
from ..platforms.model import Platform
from ..state_dir import ready_home_text
from . import render
from .exits import JOBS, OK, say
from .here import work_here
from .report import report
from .targets import selected

TYPE_CHECKING = False  # importing typing costs a one-shot command's start: names for mypy only
if TYPE_CHECKING:
    from collections.abc import Mapping


def cmd_kill(args: argparse.Namespace) -> int:
    code = work_here(
        args, lambda ledger: selected(ledger, args, live_only=True, verb="kill"), kill_here
    )
    if code is not None:
        return code
    from .job_verbs import kill, with_controller

    return with_controller(args, kill)


def kill_here(
    ledger: Ledger,
    platforms: Mapping[str, Platform],
    jobs: list[JobRecord],
    args: argparse.Namespace,
) -> int:
    from ..manager.local_kill import kill_here as kill_jobs

    if not jobs:
        say(f"no job to kill: every job of run {args.run!r} is final")
        return OK
    before = errors_of(jobs)
    details: dict[int, str] = {}
    if sys.stderr.isatty():  # a bar on a terminal (rich, asyncio with it)
        from .progress import Bar

        with Bar("kill", len(jobs)) as bar:
            kill_jobs(ledger, platforms, jobs, ready_home_text(), details)
            bar.advance(len(jobs))
    else:
        kill_jobs(ledger, platforms, jobs, ready_home_text(), details)
    return kill_outcome(ledger, jobs, details, args, before)


def kill_outcome(
    ledger: Ledger,
    jobs: list[JobRecord],
    details: dict[int, str],
    args: argparse.Namespace,
    before: dict[int, str | None],
) -> int:
    """After the kill: ecFlow told of jobs that ended without telling it, each
    job's result printed (killed, already finished, not verified), and the
    ones not verified gone named, with exit 1."""
    jobs = [ledger.get(j.id) for j in jobs]
    if any(job.ecflow_task is not None for job in jobs):
        from .ecflow import tell_ecflow  # here: only ecFlow's jobs may need telling

        tell_ecflow(ledger, jobs)
    unverified = [
        j for j in jobs if render.kill_result(j, details.get(j.id))[0] == render.NOT_VERIFIED
    ]
    report(jobs, args.json, before, skip={j.id for j in unverified}, kills=details)
    for job in unverified:  # each named, whether or not its error is new
        why = f": {job.error}" if job.error else ""
        say(f"job {job.ref}: kill not verified (state {job.state.value}){why}")
    return JOBS if unverified else OK


def errors_of(jobs: list[JobRecord]) -> dict[int, str | None]:
    """The errors the jobs carry now: only errors that differ afterwards are news."""
    return {j.id: j.error for j in jobs}
