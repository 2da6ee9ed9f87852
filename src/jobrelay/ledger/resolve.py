"""Turning a CLI JOB argument into one job.

JOB may be:
  * a reference ``RUN/ID`` — always means that job when it exists;
  * a bare id ``ID`` — the job with that id (in ``run`` when one is given);
  * a job name — the latest submission of that name (in ``run`` when given);
  * ``RUN/NAME`` — the latest submission of NAME in RUN.
A bare number that is both an id and a job name, or a name found in several
runs, is ambiguous: the error lists the references to use instead.
"""

from __future__ import annotations

from .errors import AmbiguousJob, JobNotFound
from .records import JobRecord

TYPE_CHECKING = False  # importing typing costs a one-shot command's start: names for mypy only
if TYPE_CHECKING:
    from typing import Dict, List, Optional

    from .store import Ledger


def resolve_job(ledger: Ledger, arg: str, run: Optional[str] = None) -> JobRecord:
    if not arg:
        raise JobNotFound("empty JOB argument")
    head, sep, tail = arg.rpartition("/")
    if sep and head and tail.isdigit() and (run is None or run == head):
        found = ledger.find(run=head, ids=[int(tail)])
        if found:
            return found[0]
    candidates: Dict[int, JobRecord] = {}
    tried = []
    if arg.isdigit():
        tried.append(f"no job with id {arg}" + (f" in run {run!r}" if run else ""))
        for job in ledger.find(run=run, ids=[int(arg)]):
            candidates[job.id] = job
    for job in _latest_by_run(ledger.find(run=run, name=arg)):
        candidates[job.id] = job
    tried.append(f"no job named {arg!r}" + (f" in run {run!r}" if run else ""))
    if sep and head and tail and not tail.isdigit() and (run is None or run == head):
        # RUN/NAME; a name holding "/" itself was looked up whole just above
        for job in _latest_by_run(ledger.find(run=head, name=tail)):
            candidates[job.id] = job
        tried.append(f"no job named {tail!r} in run {head!r}")
    if sep and head and tail.isdigit():
        tried.insert(0, f"no job {tail} in run {head!r}")
    if not candidates:
        raise JobNotFound(f"unknown job {arg!r}: " + "; ".join(tried))
    if len(candidates) > 1:
        refs = ", ".join(sorted(j.ref for j in candidates.values()))
        raise AmbiguousJob(f"job {arg!r} is ambiguous: it could be {refs} (give one of these)")
    return next(iter(candidates.values()))


def _latest_by_run(jobs: List[JobRecord]) -> List[JobRecord]:
    """The latest submission in each run among ``jobs`` (all of one name)."""
    latest: Dict[str, JobRecord] = {}
    for job in jobs:
        if job.run not in latest or job.submit_num > latest[job.run].submit_num:
            latest[job.run] = job
    return list(latest.values())
