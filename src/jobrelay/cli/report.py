"""Printing the jobs a command acted on: a table or JSON lines on stdout, and
on stderr the errors this command brought (an old error is said once, by the
command that met it; `show JOB` and `list` keep it); a kill's outcome."""

from __future__ import annotations

import sys
from collections.abc import Collection, Mapping

from ..ledger.records import JobRecord
from . import render
from .exits import JOBS, OK, say

TYPE_CHECKING = False  # importing typing costs a one-shot command's start: names for mypy only
if TYPE_CHECKING:
    import argparse

    from ..ledger.store import Ledger


def report(
    jobs: list[JobRecord],
    as_json: bool,
    before: Mapping[int, str | None],
    skip: Collection[int] = (),
    kills: Mapping[int, str] | None = None,
) -> None:
    """``kills``: after a kill, the engine's word per job; each job's result
    (killed, already finished, not verified) and how are then printed too."""
    if kills is None:
        sys.stdout.write(render.json_lines(jobs) if as_json else render.table(jobs))
    elif as_json:
        sys.stdout.write(render.kill_lines(jobs, kills, as_json=True))
    else:
        sys.stdout.write(render.table(jobs) + render.kill_lines(jobs, kills, as_json=False))
    sys.stdout.flush()
    news = [j for j in jobs if j.error and j.error != before.get(j.id) and j.id not in skip]
    sys.stderr.write(render.errors(news))
    sys.stderr.flush()


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
