"""``JobExecutor.get_instance('jobrelay', url=PLATFORM)``: PSI/J jobs on any jobrelay platform.

The URL names a platform of the jobrelay config (``localhost`` when none
is given); the config and state dir are found as the CLI finds them, or
given by ``JobrelayExecutorConfig``. A job's native id is its jobrelay
reference (``run/id``): ``jobrelay poll``, ``logs`` and ``kill`` take it.
Status changes come from the event stream (``jobrelay.stream``): one
polling loop per process, however many jobs and executors.
"""

from __future__ import annotations

import time

from psij import (
    InvalidJobException,
    Job,
    JobExecutor,
    JobExecutorConfig,
    JobState,
    JobStatus,
    SubmitException,
)

from jobrelay.ledger.errors import LedgerError
from jobrelay.ledger.records import JobRecord
from jobrelay.manager.controller import ControllerError, SubmitItem
from jobrelay.psij import backend
from jobrelay.psij.config import JobrelayExecutorConfig
from jobrelay.psij.status import psij_status
from jobrelay.psij.translate import translate
from jobrelay.stream import Background, StateChange, Subscription

from ..host_dataclasses import replace

DEFAULT_PLATFORM = "localhost"


class JobrelayJobExecutor(JobExecutor):
    def __init__(self, url: str | None = None, config: JobExecutorConfig | None = None) -> None:
        settings = config if isinstance(config, JobrelayExecutorConfig) else None
        super().__init__(url=url, config=config or JobrelayExecutorConfig())
        self.platform = url or DEFAULT_PLATFORM
        mine = settings or JobrelayExecutorConfig()
        self._bg: Background = backend.background(
            mine.jobrelay_config, mine.jobrelay_home, mine.max_delay
        )
        # refuse an unknown platform now, naming the configured ones
        try:
            self._bg.session.controller.platform(self.platform)
        except ControllerError as exc:
            raise ValueError(f"jobrelay PSI/J executor: {exc}") from None

    # -- JobExecutor --------------------------------------------------------
    def submit(self, job: Job) -> None:
        self._check_job(job)
        what = translate(job)
        folder = self._bg.session.home / "psij-scripts"
        folder.mkdir(parents=True, exist_ok=True)
        script = folder / f"{job.id}.sh"
        script.write_text(what.script, encoding="utf-8")
        item = SubmitItem(
            script, what.name, what.directives, what.env, source=f"PSI/J job {job.id}"
        )
        try:
            (record,) = self._bg.submit([item], self.platform, what.run)
        except ControllerError as exc:
            raise InvalidJobException(str(exc)) from exc
        except Exception as exc:
            raise SubmitException(f"job {job.id}: {exc}", exception=exc) from exc
        finally:
            script.unlink(missing_ok=True)  # the ledger and the job dir keep the text
        if record.state.value == "submit-failed":
            raise SubmitException(f"job {job.id} ({record.ref}): {record.error}")
        job._native_id = record.ref
        self._set_job_status(
            job, JobStatus(JobState.QUEUED, time=time.time(), metadata={"nativeId": record.ref})
        )
        self._follow(job, record, replay=True)

    def cancel(self, job: Job) -> None:
        ref = job.native_id
        if ref is None:  # never submitted: nothing runs
            self._set_job_status(job, JobStatus(JobState.CANCELED, time=time.time()))
            return
        self._bg.kill([self._bg.get(str(ref))])

    def list(self) -> list[str]:
        """The references of this platform's jobs that are not final, in the ledger."""
        jobs = self._bg.find()
        return [j.ref for j in jobs if j.platform == self.platform and not j.state.is_final]

    def attach(self, job: Job, native_id: str) -> None:
        if job.status.state != JobState.NEW:
            raise InvalidJobException("Job must be in the NEW state")
        try:
            record = self._bg.get(native_id)
        except LedgerError as exc:
            raise InvalidJobException(f"cannot attach to {native_id!r}: {exc}") from exc
        job.executor = self
        job._native_id = record.ref
        self._follow(job, record, replay=False, current=True)

    # -- following ------------------------------------------------------------
    def _follow(self, job: Job, record: JobRecord, replay: bool, current: bool = False) -> None:
        """Hand the job's changes to PSI/J as they are found."""

        def subscribe(_: object) -> tuple[Subscription, JobRecord]:
            # in the loop's thread: no change can slip between the read and the subscription
            fresh = self._bg.session.ledger.get(record.id)
            return self._bg.hub.changes(jobs=[record.id], replay=replay), fresh

        sub, fresh = self._bg.run(subscribe)
        if current:
            self._deliver(job, fresh)

        async def follow() -> None:
            async for change in sub:
                self._deliver_change(job, change)

        self._bg.spawn(follow())

    def _deliver_change(self, job: Job, change: StateChange) -> None:
        # the record read with the change is the newest: a final state carries its exit
        record = change.job if change.job.state is change.new else _as_of(change)
        self._deliver(job, record)

    def _deliver(self, job: Job, record: JobRecord) -> None:
        status = psij_status(record)
        if status is not None:
            backend.deliver(lambda: self._set_job_status(job, status))


def _as_of(change: StateChange) -> JobRecord:
    """The job as it was just after ``change`` (its state; later facts stay)."""
    return replace(change.job, state=change.new)
