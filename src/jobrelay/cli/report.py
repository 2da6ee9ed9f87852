"""Printing the jobs a command acted on: a table or JSON lines on stdout, and
on stderr the errors this command brought (an old error is said once, by the
command that met it; `show JOB` and `list` keep it)."""

from __future__ import annotations

import sys
from collections.abc import Collection, Mapping

from ..ledger.records import JobRecord
from . import render


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
