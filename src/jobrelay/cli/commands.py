"""What each `jobrelay` sub-command does, on top of the controller."""

from __future__ import annotations

import argparse
import sys

from ..ledger.records import JobRecord
from ..manager.contact import holding_runs
from ..manager.controller import Controller, SubmitItem
from ..manager.waiting import wait_final
from ..session import Session
from ..states import JobState
from . import render
from .install_tidy import cmd_install, cmd_tidy
from .job_input import UsageError as UsageError
from .job_input import submit_items
from .logs import fetch_log
from .progress import Progress
from .watch import watch


async def dispatch(args: argparse.Namespace) -> int:
    async with Session.open(args.config) as session:
        return await COMMANDS[args.command](session.controller, args)


def resolve(controller: Controller, args: argparse.Namespace) -> list[JobRecord]:
    return [controller.ledger.resolve(arg, args.run) for arg in args.jobs]


def show(jobs: list[JobRecord], as_json: bool) -> None:
    sys.stdout.write(render.json_lines(jobs) if as_json else render.table(jobs))
    sys.stderr.write(render.errors(j for j in jobs if not j.state.is_final or j.error))
    sys.stdout.flush()


def outcome(jobs: list[JobRecord]) -> int:
    return 0 if all(j.state is JobState.SUCCEEDED for j in jobs) else 1


# -- submit -------------------------------------------------------------
async def cmd_submit(controller: Controller, args: argparse.Namespace) -> int:
    items = submit_items(args, controller.platform(args.platform))
    if not args.wait:
        return await submit_only(controller, args, items)
    # the hold first: a refused command has submitted nothing
    async with holding_runs(controller.home, [args.run]):
        bar = Progress("submit", len(items))
        jobs = await controller.submit(items, args.platform, args.run, bar.advance)
        bar.close()
        bar = Progress("wait", len(jobs))
        jobs = await wait_final(controller, [j.id for j in jobs], args.timeout)
        bar.close()
    show(jobs, args.json)
    if any(not j.state.is_final for j in jobs):
        return 3
    return outcome(jobs)


async def submit_only(
    controller: Controller, args: argparse.Namespace, items: list[SubmitItem]
) -> int:
    bar = Progress("submit", len(items))
    jobs = await controller.submit(items, args.platform, args.run, bar.advance)
    bar.close()
    show(jobs, args.json)
    return 1 if any(j.state is JobState.SUBMIT_FAILED for j in jobs) else 0


# -- the others -----------------------------------------------------------
async def cmd_poll(controller: Controller, args: argparse.Namespace) -> int:
    jobs = resolve(controller, args) if args.jobs else controller.ledger.find(run=args.run)
    bar = Progress("poll", len(jobs))
    jobs = await controller.poll(jobs, bar.advance)
    bar.close()
    show(jobs, args.json)
    return 0


async def cmd_list(controller: Controller, args: argparse.Namespace) -> int:
    jobs = controller.ledger.find(run=args.run)
    sys.stdout.write(render.json_lines(jobs) if args.json else render.table(jobs))
    return 0


async def cmd_kill(controller: Controller, args: argparse.Namespace) -> int:
    jobs = resolve(controller, args)
    bar = Progress("kill", len(jobs))
    await controller.kill(jobs, bar.advance)
    bar.close()
    jobs = [controller.ledger.get(j.id) for j in jobs]
    sys.stdout.write(render.kill_lines(jobs, controller.kill_details, args.json))
    sys.stdout.flush()
    details = controller.kill_details
    unverified = [
        j for j in jobs if render.kill_result(j, details.get(j.id))[0] == render.NOT_VERIFIED
    ]
    # every non-zero exit names its jobs, with the reason when there is one
    for job in unverified:
        why = job.error or f"kill not verified: the job is still {job.state.value}"
        sys.stderr.write(f"jobrelay: job {job.ref} ({render.printable(job.name)}): {why}\n")
    return 1 if unverified else 0


async def cmd_wait(controller: Controller, args: argparse.Namespace) -> int:
    jobs = resolve(controller, args)
    # only runs with jobs still to watch are held: waiting on finished jobs polls nothing
    async with holding_runs(controller.home, [j.run for j in jobs if not j.state.is_final]):
        jobs = await wait_final(controller, [j.id for j in jobs], args.timeout)
    show(jobs, args.json)
    if any(not j.state.is_final for j in jobs):
        return 3
    return outcome(jobs)


async def cmd_logs(controller: Controller, args: argparse.Namespace) -> int:
    job = controller.ledger.resolve(args.job, args.run)
    data = await fetch_log(controller, job, "job.err" if args.err else "job.out")
    sys.stdout.buffer.write(data)
    sys.stdout.flush()
    return 0


async def cmd_watch(controller: Controller, args: argparse.Namespace) -> int:
    # the run it watches (new jobs may come), or without --run only the runs
    # with jobs it will poll: the others may be waited on elsewhere
    jobs = controller.ledger.find(run=args.run)
    runs = {args.run} if args.run else {j.run for j in jobs if not j.state.is_final}
    async with holding_runs(controller.home, sorted(runs)):
        return await watch(controller, args.run, args.interval)


COMMANDS = {
    "submit": cmd_submit,
    "poll": cmd_poll,
    "list": cmd_list,
    "kill": cmd_kill,
    "wait": cmd_wait,
    "logs": cmd_logs,
    "watch": cmd_watch,
    "install": cmd_install,
    "tidy": cmd_tidy,
}
