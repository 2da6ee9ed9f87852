"""`jobrelay install` (user files onto a platform's install target) and `jobrelay tidy`
(remove a run's dirs from every install target it used)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..manager.controller import Controller, ControllerError
from ..manager.install import Installer, InstallFailure, target_key
from ..manager.userfiles import InstallPathError
from ..platforms.model import Platform, TransportKind
from ..zipapps import build_agent


class TidyRefused(Exception):
    """The run still has jobs that are not final (use --force)."""


def installer(controller: Controller, platform: Platform) -> Installer:
    if platform.transport is not TransportKind.SSH:
        raise ControllerError(
            f"platform {platform.name!r}: install/tidy need transport 'ssh' "
            f"(this one is {platform.transport.value!r})"
        )
    home = controller.home
    return Installer(
        platform, controller.transport(platform), home, lambda: build_agent(home / "agent")
    )


async def cmd_install(controller: Controller, args: argparse.Namespace) -> int:
    platform = controller.platform(args.platform)
    inst = installer(controller, platform)
    source = Path(args.source)
    errors: list[str] = []
    for host in controller.picker(platform).candidates():
        failed = await inst.install(host, [args.run], platform.command_timeout)
        files: list[str] = []
        if failed is None:
            try:
                files, failed = await inst.install_files(
                    host, args.run, source, args.paths, args.exclude, platform.command_timeout
                )
            except InstallPathError as exc:
                raise ControllerError(str(exc)) from exc
        if failed is None:
            print(f"installed {len(files)} file(s) on {platform.install_target} via {host}")
            return 0
        errors.append(failed.error)
        if not failed.unreachable:
            break
    print("jobrelay: install failed: " + "; ".join(errors), file=sys.stderr)
    return 1


async def cmd_tidy(controller: Controller, args: argparse.Namespace) -> int:
    jobs = controller.ledger.find(run=args.run)
    if not jobs:
        raise ControllerError(f"no jobs in run {args.run!r}")
    live = [j for j in jobs if not j.state.is_final]
    if live and not args.force:
        raise TidyRefused(
            f"run {args.run!r} has {len(live)} job(s) not final "
            f"(e.g. {live[0].ref}: {live[0].state.value}); tidy --force removes them anyway"
        )
    seen: set[str] = set()
    status = 0
    for job in jobs:
        platform = controller.platform(job.platform)
        if platform.transport is not TransportKind.SSH or target_key(platform) in seen:
            continue
        seen.add(target_key(platform))
        failure = await tidy_target(controller, platform, args.run)
        if failure is None:
            print(f"removed run {args.run!r} from {platform.install_target}")
        else:
            print(f"jobrelay: tidy {platform.install_target}: {failure.error}", file=sys.stderr)
            status = 1
    return status


async def tidy_target(
    controller: Controller, platform: Platform, run: str
) -> InstallFailure | None:
    inst = installer(controller, platform)
    errors = []
    for host in controller.picker(platform).candidates():
        outcome = await inst.tidy(host, run, platform.command_timeout)
        if outcome.ok:
            return None
        errors.append(f"{host}: {outcome.describe()}")
        if not outcome.unreachable:
            break
    return InstallFailure(platform.hosts[0], "; ".join(errors), unreachable=True)
