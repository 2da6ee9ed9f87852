"""`submit`, `poll`, `kill` and `wait`: the verbs that reach the hosts."""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Awaitable, Callable

from ..ledger.jobfile import write_sidecars
from ..ledger.records import JobRecord
from ..manager.contact import RunHeld, holding_runs
from ..manager.controller import Controller, ControllerError, SubmitItem
from ..manager.waiting import wait_final
from ..session import Session
from ..states import JobState
from .exits import JOBS, OK, TIMEOUT, UsageError, fate, refs_text, say
from .job_input import check_runner, submit_items
from .progress import Bar, Waiting, again
from .report import errors_of, kill_outcome, report
from .targets import chosen, selected

Body = Callable[[Controller, argparse.Namespace], Awaitable[int]]


def with_controller(args: argparse.Namespace, body: Body) -> int:
    """Run ``body`` with a controller; its refusals are usage problems (exit 2)."""

    async def go() -> int:
        try:
            async with Session.open(args.config) as session:
                return await body(session.controller, args)
        except (ControllerError, RunHeld) as exc:
            raise UsageError(str(exc)) from exc

    return asyncio.run(go())


# -- submit (the controller's way: cli/submit.py chooses) ------------------
async def submit(controller: Controller, args: argparse.Namespace) -> int:
    platform = controller.platform(args.platform)
    check_runner(args, platform)
    items = submit_items(args, platform)
    if not args.wait:
        jobs = await submit_batch(controller, args, items)
        report(jobs, args.json, {})
        return JOBS if any(j.state is JobState.SUBMIT_FAILED for j in jobs) else OK
    # the hold first: a refused command has submitted nothing
    async with holding_runs(controller.home, [args.run]):
        jobs = await submit_batch(controller, args, items)
        say(f"submitted {len(jobs)} job(s) to run {args.run!r}: {refs_text(jobs)}")
        return await wait_report(controller, jobs, args, {})


async def submit_batch(
    controller: Controller, args: argparse.Namespace, items: list[SubmitItem]
) -> list[JobRecord]:
    with Bar("submit", len(items)) as bar:
        jobs = await controller.submit(items, args.platform, args.run, bar.advance)
    # <script>.jid beside each script: the job found by its file (ledger/jobfile.py)
    for problem in write_sidecars(controller.ledger, jobs):
        say(problem)
    return jobs


# -- wait ---------------------------------------------------------------
def cmd_wait(args: argparse.Namespace) -> int:
    return with_controller(args, wait)


async def wait(controller: Controller, args: argparse.Namespace) -> int:
    jobs = selected(controller.ledger, args, verb="wait")
    before = errors_of(jobs)
    # only runs with jobs still to watch are held: waiting on finished jobs polls nothing
    async with holding_runs(controller.home, sorted({j.run for j in jobs if not j.state.is_final})):
        return await wait_report(controller, jobs, args, before)


async def wait_report(
    controller: Controller,
    jobs: list[JobRecord],
    args: argparse.Namespace,
    before: dict[int, str | None],
) -> int:
    """Wait for ``jobs`` with progress shown; report them; exit by their fate."""
    with Waiting(jobs).shown() as waiting:
        jobs = await wait_final(controller, [j.id for j in jobs], args.timeout, waiting.seen)
    report(jobs, args.json, before)
    left = [j for j in jobs if not j.state.is_final]
    if left:
        say(f"timed out after {args.timeout:g}s; {len(left)} job(s) not final: {again(left)}")
        return TIMEOUT
    return fate(jobs)


# -- poll (the controller's way: cli/poll.py chooses) ---------------------
async def poll(controller: Controller, args: argparse.Namespace) -> int:
    jobs = chosen(controller.ledger, args)
    before = errors_of(jobs)
    # the controller asks only about jobs not final (and lost ones: a late exit replaces lost)
    asked = [j for j in jobs if not j.state.is_final or j.state is JobState.LOST]
    with Bar("poll", len(asked)) as bar:
        jobs = await controller.poll(jobs, bar.advance)
    report(jobs, args.json, before)
    return OK


# -- kill (the controller's way: cli/kill.py chooses) ---------------------
async def kill(controller: Controller, args: argparse.Namespace) -> int:
    jobs = selected(controller.ledger, args, live_only=True, verb="kill")
    if not jobs:
        say(f"no job to kill: every job of run {args.run!r} is final")
        return OK
    before = errors_of(jobs)
    with Bar("kill", len(jobs)) as bar:
        await controller.kill(jobs, bar.advance)
    return kill_outcome(controller.ledger, jobs, controller.kill_details, args, before)
