"""`jobrelay logs JOB [--follow]`: a job's output, from wherever it ran."""

from __future__ import annotations

import argparse
import asyncio
import sys

from ..ledger.records import JobRecord
from ..manager.controller import Controller, ControllerError
from ..platforms.selection import first_answer
from ..transport.base import CommandOutcome
from ..transport.local import local_root_of
from .exits import JOBS, OK, UsageError, say
from .job_verbs import with_controller
from .parser import FOLLOW_INTERVAL
from .targets import resolve


class LogUnavailable(ControllerError):
    """The job's output could not be read or fetched (exit 1: the job exists)."""


def cmd_logs(args: argparse.Namespace) -> int:
    if args.interval is not None and not args.follow:
        raise UsageError("logs: --interval needs --follow")
    args.interval = args.interval or FOLLOW_INTERVAL
    return with_controller(args, logs)


async def logs(controller: Controller, args: argparse.Namespace) -> int:
    job = resolve(controller.ledger, args.job, args.run)
    name = "job.err" if args.err else "job.out"
    shown = 0
    while True:
        # whether it was final before this look: then the look saw all it wrote
        ended = job.state.is_final
        try:
            # a final job wrote its output: missing now is an error, not "nothing yet"
            data = await fetch_log(controller, job, name, missing_ok=args.follow and not ended)
        except LogUnavailable as exc:
            say(str(exc))
            return JOBS
        sys.stdout.buffer.write(data[shown:])
        sys.stdout.flush()
        shown = max(shown, len(data))
        if not args.follow or ended:
            return OK
        await asyncio.sleep(args.interval)
        job = (await controller.poll([job]))[0]


async def fetch_log(
    controller: Controller, job: JobRecord, filename: str, missing_ok: bool = False
) -> bytes:
    """The file's bytes; with ``missing_ok``, none yet when the job has not written it.
    A job submitted with ``-o`` has its stdout (and stderr) at its output path."""
    platform = controller.platform(job.platform)
    root, rel = platform.run_root, f"{job.job_dir}/{filename}"
    if job.output and filename == "job.out":
        root, rel, filename = "/", job.output.lstrip("/"), job.output
    transport = controller.transport(platform)
    if transport.local_files:
        path = local_root_of(root) / rel
        try:
            return path.read_bytes()
        except FileNotFoundError:
            if missing_ok:
                return b""
            why = (
                f"is {job.state.value}: its {filename} is gone (its job dir tidied?)"
                if job.state.is_final
                else f"no {filename} yet"
            )
            raise LogUnavailable(f"job {job.ref} {why} at {path}") from None
        except OSError as exc:
            raise LogUnavailable(f"job {job.ref}: cannot read {path}: {exc.strerror}") from exc
    target = controller.home / "logs" / rel

    async def attempt(host: str) -> CommandOutcome:
        target.unlink(missing_ok=True)
        return await transport.pull(
            host, root, [rel], controller.home / "logs",
            timeout=platform.command_timeout,
        )  # fmt: skip

    def unreachable(outcome: CommandOutcome) -> str | None:
        return outcome.describe() if outcome.unreachable else None

    picker = controller.picker(platform)
    hosts = [job.host] if job.host else []
    hosts += [h for h in picker.candidates() if h not in hosts]
    outcome = await first_answer(picker, hosts, attempt, unreachable)
    if target.is_symlink():
        # rsync copies a link as a link: never follow one into this machine's files
        raise LogUnavailable(f"job {job.ref}: {filename} is a symlink: not read")
    if target.exists():
        return target.read_bytes()
    if missing_ok and outcome.ok:
        return b""
    why = outcome.describe() if not outcome.ok else "no such file"
    raise LogUnavailable(f"job {job.ref}: cannot fetch {filename}: {why}")
