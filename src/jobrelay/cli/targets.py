"""Which jobs a command is about: JOB arguments, ``--run`` and ``--state``.

``resolve`` is the one place a JOB argument becomes a job (forms: parser.JOB_FORMS);
a new form (e.g. a job file's path) is added there.
"""

from __future__ import annotations

import argparse
import os

from ..ledger.jobfile import resolve_jobfile
from ..ledger.records import JobRecord
from ..ledger.store import Ledger
from ..state_dir import ready_home_text
from .exits import UsageError


def open_ledger() -> Ledger:
    """The ledger in the state dir, for commands that contact no host."""
    return Ledger.open(os.path.join(ready_home_text(), "ledger.sqlite"))


def resolve(ledger: Ledger, arg: str, run: str | None) -> JobRecord:
    """The job one JOB argument means: a job file's path (ledger/jobfile.py),
    else the ledger's forms."""
    by_file = resolve_jobfile(ledger, arg, run)
    if by_file is not None:
        return by_file
    return ledger.resolve(arg, run)


def named_jobs(ledger: Ledger, args: argparse.Namespace) -> list[JobRecord]:
    """The JOB arguments' jobs, each once, in the order given."""
    found: dict[int, JobRecord] = {}
    for arg in args.jobs:
        job = resolve(ledger, arg, args.run)
        found.setdefault(job.id, job)
    return list(found.values())


def selected(
    ledger: Ledger, args: argparse.Namespace, *, live_only: bool = False, verb: str
) -> list[JobRecord]:
    """JOB arguments, else every job of ``--run`` (only non-final ones when
    ``live_only``), filtered by ``--state`` when the command has it."""
    if args.jobs:
        jobs = named_jobs(ledger, args)
    elif args.run is not None:
        jobs = ledger.find(run=args.run)
        if not jobs:
            raise UsageError(f"{verb}: no jobs in run {args.run!r}{known_runs(ledger)}")
        if live_only:
            jobs = [j for j in jobs if not j.state.is_final]
    else:
        raise UsageError(f"{verb}: give JOB… or --run R")
    return by_state(jobs, args)


def by_state(jobs: list[JobRecord], args: argparse.Namespace) -> list[JobRecord]:
    wanted = getattr(args, "state", None)
    return [j for j in jobs if j.state in wanted] if wanted else jobs


def known_runs(ledger: Ledger) -> str:
    runs = [r.run for r in ledger.runs()]
    if not runs:
        return " (the ledger is empty)"
    shown = ", ".join(runs[-10:])
    return f" (runs: {shown}{', …' if len(runs) > 10 else ''})"


def check_run(ledger: Ledger, run: str | None) -> None:
    """A ``--run`` naming no run is a mistake worth saying (exit 2)."""
    if run is not None and not ledger.find(run=run):
        raise UsageError(f"no jobs in run {run!r}{known_runs(ledger)}")


def chosen(ledger: Ledger, args: argparse.Namespace) -> list[JobRecord]:
    """JOB arguments or ``--run``, else every job of the ledger; by ``--state``."""
    if args.jobs or args.run is not None:
        return selected(ledger, args, verb="poll")
    return by_state(ledger.find(), args)
