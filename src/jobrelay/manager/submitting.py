"""A submission's steps that do not depend on how the host is reached.

The controller (any platform, asyncio) and the one-shot ``jobrelay submit``
of a local platform (``local_submit``, in this process) take the same steps:
check every job before any host is contacted, create the jobs ``submitting``
in the ledger, send one request per job, and judge each reply into the
ledger. Both call these, so a job is recorded the same way whichever ran it.
"""

from __future__ import annotations

from ..engine.protocol import JobRequest
from ..ledger.records import JobRecord, JobSpec
from ..ledger.store import Ledger
from ..platforms.model import Platform
from ..runners.registry import RunnerLoadError, runner_class
from .agent_reply import AgentReply
from .job_directives import refusal_text, settle
from .judge import Look, Rules, judge
from .submit_item import SubmitItem as SubmitItem

TYPE_CHECKING = False  # importing typing costs a one-shot command's start: names for mypy only
if TYPE_CHECKING:
    from collections.abc import Sequence


class ControllerError(Exception):
    """A request the controller refuses as a whole (unknown platform, unreadable script)."""


def output_env(item: SubmitItem) -> dict[str, str]:
    """The job's environment: the wrapper sends its output to $JOBRELAY_OUTPUT when set."""
    return {**item.env, "JOBRELAY_OUTPUT": item.output} if item.output else item.env


def create_jobs(
    ledger: Ledger, platform: Platform, items: Sequence[SubmitItem], run: str
) -> tuple[list[JobRecord], dict[int, str]]:
    """Check every item, then create the jobs (``submitting``); with each
    job's script text by job id. Any problem refuses the whole request before
    anything is recorded or any host contacted."""
    try:
        runner_class(platform.runner)
    except RunnerLoadError as exc:
        raise ControllerError(f"platform {platform.name!r}: {exc}") from exc
    directives, problems = settle(platform, items)
    if problems:
        raise ControllerError(refusal_text(problems))
    scripts = []
    for item in items:
        if item.output is not None and not (
            item.output.startswith("/") and "\0" not in item.output
        ):
            raise ControllerError(
                f"job {item.name!r}: output {item.output!r}: not an absolute path"
            )
        try:
            scripts.append(item.script_path.read_text(errors="surrogateescape"))
        except OSError as exc:
            raise ControllerError(
                f"job {item.name!r}: cannot read script {item.script_path}: {exc.strerror}"
            ) from exc
    records = ledger.create_jobs(
        [
            JobSpec(
                run=run,
                name=item.name,
                platform=platform.name,
                install_target=platform.install_target,
                runner=platform.runner,
                script_path=str(item.script_path.resolve()),
                directives=job_directives.to_wire(),
                env=output_env(item),
                output=item.output,
                ecflow_task=item.ecflow_task,
            )
            for item, job_directives in zip(items, directives, strict=True)
        ]
    )
    return records, dict(zip((r.id for r in records), scripts, strict=True))


def submit_requests(
    ledger: Ledger, batch: list[JobRecord], texts: dict[int, str]
) -> list[JobRequest]:
    return [
        JobRequest(
            job=job.ref,
            dir=job.job_dir,
            runner=job.runner,
            name=job.name,
            script=texts[job.id],
            directives=dict(job.directives),
            env=dict(job.env),
            identity=ledger.identity(job),
        )
        for job in batch
    ]


def record_submit(
    ledger: Ledger, platform: Platform, batch: list[JobRecord], reply: AgentReply
) -> list[JobRecord]:
    """Judge each job of ``batch`` by the submit ``reply``, in one write; the
    jobs as the ledger now holds them."""
    from datetime import UTC, datetime  # here: with sqlite3's own import it is loaded already

    rules = Rules(datetime.now(UTC))
    error = reply.error
    if reply.unreachable:
        error = f"no host of platform {platform.name!r} reachable: {reply.error}"
    updates = []
    for job in batch:
        look = Look(
            "submit",
            reply.host,
            reply.replies.get(job.ref),
            unreachable=reply.unreachable,
            not_started=reply.not_started,
            call_error=error,
        )
        update = judge(job, look, rules)
        if update is not None:
            updates.append(update)
    if updates:
        ledger.apply(updates)
    fresh = {job.id: job for job in ledger.find(ids=[job.id for job in batch])}  # one query
    return [fresh[job.id] for job in batch]
