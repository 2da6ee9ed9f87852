"""`jobrelay install` (user files into a run's dir on a platform's install
target) and `jobrelay tidy` (remove a run's dirs from every install target it
used, saying what went). Local and SSH platforms; SSH-free ones are refused
(the host runs no command of ours: see docs/cli.md)."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..ledger.records import JobRecord
from ..ledger.rows import ledger_prefix
from ..manager.controller import Controller
from ..manager.install import Installer, InstallFailure, target_key
from ..manager.userfiles import InstallPathError
from ..platforms.model import Platform
from ..platforms.selection import first_answer
from ..transport.base import CommandOutcome
from ..zipapps import build_agent
from .exits import JOBS, OK, UsageError, say
from .job_verbs import with_controller


def installer(controller: Controller, platform: Platform, verb: str) -> Installer:
    transport = controller.transport(platform)
    if not (transport.local_files or transport.runs_agent):
        raise UsageError(
            f"platform {platform.name!r}: {verb} needs a host that runs commands; transport "
            f"{platform.transport.value!r} allows rsync only (do it on the host yourself)"
        )
    home = controller.home
    return Installer(platform, transport, home, lambda: build_agent(home / "agent"))


def cmd_install(args: argparse.Namespace) -> int:
    return with_controller(args, install)


async def install(controller: Controller, args: argparse.Namespace) -> int:
    platform = controller.platform(args.platform)
    inst = installer(controller, platform, "install")
    source = Path(args.source)
    if not source.is_dir():
        raise UsageError(f"install --from {args.source}: not a directory")

    async def attempt(host: str) -> tuple[list[str], InstallFailure | None]:
        # a local target runs the controller's own agent build: nothing to put there
        if not inst.transport.local_files:
            failed = await inst.install(host, [args.run], platform.command_timeout)
            if failed is not None:
                return [], failed
        try:
            return await inst.install_files(
                host, args.run, source, args.paths, args.exclude, platform.command_timeout
            )
        except InstallPathError as exc:
            raise UsageError(str(exc)) from exc

    def unreachable(result: tuple[list[str], InstallFailure | None]) -> str | None:
        failed = result[1]
        return failed.error if failed is not None and failed.unreachable else None

    hosts = controller.picker(platform).candidates()
    files, failed = await first_answer(controller.picker(platform), hosts, attempt, unreachable)
    if failed is not None:
        say(f"install failed: {failed.error}")
        return JOBS
    say(f"installed {len(files)} file(s) into {inst.root}/{args.run} on {platform.install_target}")
    return OK


class TidyRefused(UsageError):
    """The run still has jobs that are not final (use --force)."""


def cmd_tidy(args: argparse.Namespace) -> int:
    return with_controller(args, tidy)


async def tidy(controller: Controller, args: argparse.Namespace) -> int:
    jobs = controller.ledger.find(run=args.run)
    if not jobs:
        raise UsageError(f"tidy: no jobs in run {args.run!r}")
    live = [j for j in jobs if not j.state.is_final]
    if live and not args.force:
        raise TidyRefused(
            f"run {args.run!r} has {len(live)} job(s) not final "
            f"(e.g. {live[0].ref}: {live[0].state.value}); tidy --force removes them anyway"
        )
    status = OK
    for platform, legacy in targets(controller, jobs, args.run):
        inst = installer(controller, platform, "tidy")
        where = f"{inst.root}/{args.run} on {platform.install_target}"
        outcome = await tidy_target(controller, inst, args.run, legacy)
        if not outcome.ok:
            say(f"tidy {where}: {outcome.describe()}")
            status = JOBS
            continue
        count = next(
            (ln.split()[-1] for ln in outcome.stdout.splitlines() if ln.startswith("job dirs")),
            "?",
        )
        if "removed" in outcome.stdout:
            say(f"removed {count} job dir(s) and the run dir {where}")
        else:
            say(f"removed {count} job dir(s) of this ledger from {where}; kept the run's dir: "
                "other ledgers' jobs are in it")  # fmt: skip
    return status


def targets(
    controller: Controller, jobs: list[JobRecord], run: str
) -> list[tuple[Platform, list[str]]]:
    """Each install target the run's jobs used, once, with this ledger's older job
    dirs there (named before the ledger prefix)."""
    prefix = ledger_prefix(controller.ledger.ledger_id)
    found: dict[str, tuple[Platform, list[str]]] = {}
    for job in jobs:
        platform = controller.platform(job.platform)
        _, legacy = found.setdefault(target_key(platform), (platform, []))
        if not job.job_dir.startswith(f"{run}/jobs/{prefix}-") and job.job_dir not in legacy:
            legacy.append(job.job_dir)
    return [(p, sorted(legacy)) for p, legacy in found.values()]


async def tidy_target(
    controller: Controller, inst: Installer, run: str, legacy: list[str]
) -> CommandOutcome:
    prefix = ledger_prefix(controller.ledger.ledger_id)
    timeout = inst.platform.command_timeout

    async def attempt(host: str) -> CommandOutcome:
        return await inst.tidy(host, run, prefix, legacy, timeout)

    def unreachable(outcome: CommandOutcome) -> str | None:
        return outcome.describe() if outcome.unreachable else None

    picker = controller.picker(inst.platform)
    return await first_answer(picker, picker.candidates(), attempt, unreachable)
