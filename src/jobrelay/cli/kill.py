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

from ..ledger.records import JobRecord
from ..ledger.store import Ledger
from ..platforms.model import Platform
from ..state_dir import ready_home_text
from .exits import OK, say
from .here import with_bar, work_here
from .report import errors_of, kill_outcome
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
    home = ready_home_text()
    with_bar(
        "kill", len(jobs), lambda step: kill_jobs(ledger, platforms, jobs, home, details, step)
    )
    return kill_outcome(ledger, jobs, details, args, before)
