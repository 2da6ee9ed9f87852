"""What the engine needs from the place its job dirs live: the ``JobHost`` interface.

Every method takes many jobs at once where a remote implementation pays per
call (SSH-free: one rsync per batch), and one job where it cannot matter.

Host-side: standard library only, Python 3.8+.
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod

from ..host_dataclasses import dataclass, field
from ..processes import run_command
from ..status import keys
from .protocol import JobReply, JobRequest
from .submit_lock import SubmitLock, submit_in_progress

TYPE_CHECKING = False  # importing typing costs the agent 4 ms of start: names for mypy only
if TYPE_CHECKING:
    from typing import Any, List, Optional, Sequence, Tuple

    from ..processes import CommandResult
    from ..runners.base import RunnerOptions
    from ..status.facts import StatusFacts


class HostTrouble(Exception):
    """The job dirs cannot be reached at all in this call (SSH-free: rsync failed).

    ``unreachable``: the host did not answer, so the controller may try
    another host; otherwise the reason is each job's error.
    """

    def __init__(self, reason: str, unreachable: bool) -> None:
        super().__init__(reason)
        self.reason = reason
        self.unreachable = unreachable


@dataclass
class Slot:
    """One job of a request while the engine works on it."""

    req: JobRequest
    path: str = ""  # the job dir as the runner's commands see it (absolute)
    error: Optional[str] = None
    facts: Optional[StatusFacts] = None
    stamp: str = ""  # the status file's stamp, taken just before the last read
    unchanged: bool = False  # poll: the file kept the request's stamp and was not read
    reply: Optional[JobReply] = None
    job_text: str = ""  # submit: the job file's text
    lock: Any = None  # the JobHost's submit lock, while held

    @property
    def status_path(self) -> str:
        return f"{self.path}/{keys.STATUS_FILE}"

    @property
    def job_file(self) -> str:
        return f"{self.path}/{keys.JOB_FILE}"


@dataclass(frozen=True)
class JobFiles:
    """What submit writes into one job dir."""

    job_text: str  # the job file the runner is given
    script_text: str  # the user's script
    status_lines: Tuple[Tuple[str, str], ...] = field(default_factory=tuple)


class JobHost(ABC):
    """Where job dirs are read and written and runner commands run."""

    def runner_options(self, options: RunnerOptions) -> RunnerOptions:
        """The runner options as this host needs them (SSH-free: the files are remote)."""
        return options

    @abstractmethod
    def place(self, slots: Sequence[Slot]) -> None:
        """Set each slot's ``path``, or its ``error`` when its dir is refused."""

    @abstractmethod
    def read_status(self, slots: Sequence[Slot], use_seen: bool = False) -> None:
        """Set each slot's ``facts`` (and ``stamp``) from its status file.

        ``use_seen``: a file that still has the request's ``seen`` stamp may be
        left unread (``unchanged``). Raises ``HostTrouble``.
        """

    def read_before_submit(self, slots: Sequence[Slot]) -> None:
        """Set each slot's ``facts`` to what is known of an earlier submission
        (a runner id, a start): the check that no job is submitted twice."""
        self.read_status(slots)

    @abstractmethod
    def lock_dir(self, slot: Slot) -> str:
        """The local dir that holds the job's submit lock (made when missing)."""

    def lock(self, slot: Slot) -> bool:
        """Take the job's submit lock; False when another process holds it.
        OSError when its dir cannot be made."""
        where = self.lock_dir(slot)
        os.makedirs(where, mode=0o700, exist_ok=True)
        lock = SubmitLock(where)
        if not lock.acquire():
            return False
        slot.lock = lock
        return True

    def unlock(self, slot: Slot) -> None:
        if slot.lock is not None:
            slot.lock.release()
            slot.lock = None

    def submit_in_progress(self, slot: Slot) -> bool:
        """Another process holds the job's submit lock now."""
        return submit_in_progress(self.lock_dir(slot))

    @abstractmethod
    def write_jobs(self, jobs: Sequence[Tuple[Slot, JobFiles]]) -> None:
        """Write each job's files and append its status lines; a failure is that
        slot's ``error``. Raises ``HostTrouble`` when no job could be written."""

    @abstractmethod
    def append_status(self, slot: Slot, pairs: Sequence[Tuple[str, str]]) -> None:
        """Add lines to the job's status record (OSError when that fails)."""

    def run(
        self,
        argv: Sequence[str],
        *,
        stdin: Optional[str] = None,
        cwd: Optional[str] = None,
        timeout: float = 30.0,
    ) -> CommandResult:
        """Run a runner command (the ``CommandExecutor`` runners are given): on
        this machine, which is the job host for the agent and the controller
        for SSH-free."""
        return run_command(argv, stdin=stdin, cwd=cwd, timeout=timeout)


def failed(slot: Slot, verb: str, error: str) -> JobReply:
    """The reply that ends ``slot`` with ``error`` (with what its file said, if read)."""
    return JobReply(job=slot.req.job, dir=slot.req.dir, verb=verb, error=error, status=slot.facts)


def not_ready(slots: Sequence[Slot]) -> List[Slot]:
    """The slots still worked on: no error, no reply yet."""
    return [s for s in slots if s.error is None and s.reply is None]
