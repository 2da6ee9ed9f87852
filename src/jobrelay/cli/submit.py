"""`submit`: in this process on a local platform, else through the controller.

ecFlow starts one ``jobrelay submit`` per task, so its start is paid per
task. A submission without ``--wait`` to a platform whose job files are on
this machine needs one engine call (``manager/local_submit.py``): no asyncio,
no controller, no agent process. Everything else (``--wait``, SSH, SSH-free,
an unknown platform, whose error the controller words) goes through the
controller (``job_verbs``). Both take the same steps (``manager/submitting.py``)
and print the same report.
"""

from __future__ import annotations

import argparse

from ..ledger.jobfile import write_sidecars
from ..platforms.config import load_platforms
from ..platforms.model import Platform
from ..state_dir import ready_home_text
from ..states import JobState
from .exits import JOBS, OK, UsageError, say


def cmd_submit(args: argparse.Namespace) -> int:
    if args.timeout is not None and not args.wait:
        raise UsageError("submit: --timeout needs --wait")
    from ..manager.local_poll import polls_here

    platform = load_platforms(args.config).get(args.platform)
    if args.wait or platform is None or not polls_here(platform):
        from .job_verbs import submit, with_controller

        return with_controller(args, submit)
    return submit_here(args, platform)


def submit_here(args: argparse.Namespace, platform: Platform) -> int:
    from ..manager.local_submit import submit_here as submit_jobs
    from ..manager.submitting import ControllerError
    from .here import with_bar
    from .job_input import check_runner, submit_items
    from .report import report
    from .targets import open_ledger

    check_runner(args, platform)
    items = submit_items(args, platform)
    ledger = open_ledger()
    try:
        try:
            home = ready_home_text()
            jobs = with_bar(
                "submit",
                len(items),
                lambda step: submit_jobs(ledger, platform, items, args.run, home, step),
            )
        except ControllerError as exc:
            raise UsageError(str(exc)) from exc
        # <script>.jid beside each script: the job found by its file (ledger/jobfile.py)
        for problem in write_sidecars(ledger, jobs):
            say(problem)
        report(jobs, args.json, {})
    finally:
        ledger.close()
    return JOBS if any(j.state is JobState.SUBMIT_FAILED for j in jobs) else OK
