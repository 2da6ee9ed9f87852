"""`jobrelay status JOB`: one poll of one job, then a readable report.

Made for a workflow engine's status command (ecFlow's ``ECF_STATUS_CMD``):
JOB is usually the job file's path. Exit codes tell the engine what it needs
(contract, docs/cli.md):

  0  the job is alive (submitted, running, or its submission in progress)
  1  the job has ended (succeeded, failed, killed, lost, submit-failed)
  2  bad usage: an empty JOB, an ambiguous one, a bad config or ledger
  3  the job's host could not be reached: its state is not known now
  4  no such job

An ended ecFlow job whose end ecFlow did not see is reported to ecFlow once
(cli/ecflow.py).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Mapping

from ..host_dataclasses import dataclass
from ..ledger.errors import JobNotFound
from ..ledger.records import EventKind, JobRecord
from ..ledger.store import Ledger
from ..manager.judge import Look
from ..manager.local_poll import poll_here, polls_here
from ..platforms.config import load_platforms
from ..platforms.model import Platform
from ..state_dir import ready_home_text
from ..states import JobState
from . import render
from .exits import UsageError, say
from .targets import open_ledger, resolve

TYPE_CHECKING = False  # importing typing costs a one-shot command's start: names for mypy only
if TYPE_CHECKING:
    from typing import Any

    from ..manager.controller import Controller
    from .ecflow import Told


def with_controller(args: argparse.Namespace, body: Any) -> int:
    """The controller, asyncio and the transports only for a remote job."""
    from .job_verbs import with_controller as run

    return run(args, body)


EXIT_ALIVE, EXIT_ENDED, EXIT_USAGE, EXIT_UNREACHABLE, EXIT_UNKNOWN = 0, 1, 2, 3, 4
STAT_SUFFIX = ".stat"
LAST_MESSAGES = 5
SECOND_LOOK_PAUSE = 1.0  # seconds: lets a late status file line or runner entry show


@dataclass(frozen=True)
class Report:
    job: JobRecord
    look: Look | None  # this poll's answer; None when the job was final already
    job_dir: str
    submitted: str | None
    messages: list[str]
    told: Told | None

    @property
    def unreachable(self) -> bool:
        if self.job.state.is_final:
            return False
        return self.job.state is JobState.UNKNOWN or bool(self.look and self.look.unreachable)

    @property
    def exit_status(self) -> int:
        if self.job.state.is_final:
            return EXIT_ENDED
        return EXIT_UNREACHABLE if self.unreachable else EXIT_ALIVE


def cmd_status(args: argparse.Namespace) -> int:
    if not args.job.strip():
        raise UsageError("status: JOB is empty (give a reference, a name or a job file)")
    ledger = open_ledger()
    try:
        return status(ledger, load_platforms(args.config), args)
    finally:
        ledger.close()


def status(ledger: Ledger, platforms: Mapping[str, Platform], args: argparse.Namespace) -> int:
    try:
        job = resolve(ledger, args.job, args.run)
    except JobNotFound as exc:
        say(str(exc))
        return EXIT_UNKNOWN
    if args.platform and args.platform != job.platform:
        raise UsageError(f"job {job.ref} runs on platform {job.platform!r}, not {args.platform!r}")
    looks: dict[int, Look] = {}
    platform = platforms.get(job.platform)
    if platform is not None and polls_here(platform):
        # a local platform: the engine in this process, no controller, no event loop
        home = ready_home_text()  # its polling budget: ecFlow may run many status at once
        polled = poll_here(ledger, platform, [job], looks.__setitem__, home)[0]
        if second_look_wanted(job, polled):
            time.sleep(SECOND_LOOK_PAUSE)
            poll_here(ledger, platform, [polled], looks.__setitem__, home)
    else:
        with_controller(args, lambda controller, _args: remote_looks(controller, job, looks))
    report = report_for(ledger, platforms, ledger.get(job.id), looks.get(job.id))
    if args.json:
        import json  # here: the readable report needs no json

        text = json.dumps(report_json(report)) + "\n"
    else:
        text = report_text(report)
    sys.stdout.write(text)
    sys.stdout.flush()
    if args.write_stat:
        write_stat(job.script_path + STAT_SUFFIX, report_text(report))
    return report.exit_status


def second_look_wanted(before: JobRecord, polled: JobRecord) -> bool:
    """The runner no longer knows the job and its file records no end: the
    second look the lost rule asks for (manager/reconcile.py), so that one
    status call settles a job killed behind everyone's back."""
    return not polled.state.is_final and polled.forgot_count > before.forgot_count


async def remote_looks(controller: Controller, job: JobRecord, looks: dict[int, Look]) -> int:
    """Poll ``job`` through the controller (SSH, SSH-free), twice if the lost rule asks."""
    import asyncio

    controller.observe = looks.__setitem__
    try:
        (polled,) = await controller.poll([job])
        if second_look_wanted(job, polled):
            await asyncio.sleep(SECOND_LOOK_PAUSE)
            await controller.poll([polled])
    finally:
        controller.observe = None
    return 0


def to_seconds(stamp: str) -> str:
    """A ledger time (microseconds) in the status file's form, to the second:
    the report's times read alike whichever of the two gave them."""
    whole, dot, _ = stamp.partition(".")
    return f"{whole}Z" if dot and stamp.endswith("Z") else stamp


def report_for(
    ledger: Ledger, platforms: Mapping[str, Platform], job: JobRecord, look: Look | None
) -> Report:
    told = None
    if job.ecflow_task is not None and job.state.is_final and not job.ecflow_told:
        from .ecflow import tell_if_needed  # here: only an ended ecFlow job may need it

        told = tell_if_needed(ledger, job)
    if told is not None:
        job = ledger.get(job.id)
    platform = platforms.get(job.platform)
    root = platform.run_root if platform else "?"
    facts = look.reply.status if look and look.reply else None
    left = [
        e.time
        for e in ledger.events(job.id, [EventKind.SUBMIT, EventKind.STATE])
        if e.kind is EventKind.SUBMIT or e.detail.startswith("submitting -> ")
    ]
    messages = [
        f"{e.source_time or e.time} {e.severity or '-'} {e.detail}"
        for e in ledger.events(job.id, [EventKind.MESSAGE])[-LAST_MESSAGES:]
    ]
    return Report(
        job=job,
        look=look,
        job_dir=f"{root.rstrip('/')}/{job.job_dir}",
        submitted=(facts.submit_time if facts else None) or (to_seconds(left[0]) if left else None),
        messages=messages,
        told=told,
    )


def runner_view(report: Report) -> str:
    """What the runner itself said in this poll, in its own words."""
    look = report.look
    if look is None:
        return "not asked: the job had ended before this poll"
    if look.reply is None:
        return f"no answer from {look.host}: {look.call_error or 'no reply line'}"
    reply = look.reply
    if reply.runner_error:
        return f"query failed: {reply.runner_error}"
    info = reply.runner
    if info is None:
        return "not asked: the job's status file records its end"
    words = [info.state.value]
    if info.reason:
        words.append(f"({info.reason})")
    if info.exit_code is not None:
        words.append(f"exit {info.exit_code}")
    if info.signal:
        words.append(f"signal {info.signal}")
    return " ".join(words)


def report_text(report: Report) -> str:
    job = report.job
    p = render.printable
    rows = [
        ("job", f"{job.ref} ({p(job.name)})"),
        ("state", job.state.value + (" (host unreachable)" if report.unreachable else "")),
        ("platform", f"{job.platform}, runner {job.runner}"),
        ("runner id", job.runner_id or "-"),
        ("host", job.host or "-"),
        ("submitted", report.submitted or f"{job.created} (entered the ledger)"),
        ("started", job.start_time or "-"),
        ("ended", job.exit_time or ("-" if not job.state.is_final else job.updated)),
        ("exit", _exit_words(job)),
        ("job dir", p(report.job_dir)),
        ("output", p(job.output) if job.output else f"{p(report.job_dir)}/job.out, job.err"),
        ("job file", p(job.script_path)),
        ("runner says", p(runner_view(report))),
    ]
    if job.error:
        rows.append(("error", p(job.error)))
    if report.told is not None:
        rows.append(("ecFlow", p(report.told.detail)))
    width = max(len(k) for k, _ in rows)
    lines = [f"{k.ljust(width)}  {v}" for k, v in rows]
    lines.append("messages".ljust(width) + ("" if report.messages else "  -"))
    lines.extend(f"  {p(m)}" for m in report.messages)
    return "\n".join(lines) + "\n"


def _exit_words(job: JobRecord) -> str:
    if job.exit_signal:
        return f"signal {job.exit_signal}"
    if job.exit_code is not None:
        return f"code {job.exit_code}"
    return "-"


def report_json(report: Report) -> dict[str, Any]:
    job = report.job
    data = render.job_json(job)
    data.update(
        alive=report.exit_status == EXIT_ALIVE,
        unreachable=report.unreachable,
        submitted=report.submitted,
        start_time=job.start_time,
        exit_time=job.exit_time,
        job_dir_path=report.job_dir,
        output=job.output,
        job_file=job.script_path,
        runner_says=runner_view(report),
        messages=report.messages,
    )
    if report.told is not None:
        data["ecflow"] = report.told.detail
    return data


def write_stat(path: str, text: str) -> None:
    tmp = f"{path}.tmp{os.getpid()}"
    try:
        with open(tmp, "w", encoding="utf-8") as out:
            out.write(text)
        os.replace(tmp, path)
    except OSError as exc:
        say(f"cannot write {path}: {exc.strerror or exc}")
