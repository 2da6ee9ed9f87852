"""The ledger's records: what goes in (specs, updates) and what comes out (jobs, events).

Everything crossing the ledger's boundary is a frozen dataclass; rows and
dicts stay inside ``store``.
"""

from __future__ import annotations

import enum

from ..host_dataclasses import dataclass, field
from ..states import JobState
from ..status.facts import Message

TYPE_CHECKING = False  # importing typing costs a one-shot command's start: names for mypy only
if TYPE_CHECKING:
    from typing import Any, Mapping, Optional, Tuple, Union


class EventKind(str, enum.Enum):
    """Kinds of history entries kept per job."""

    CREATE = "create"  # the job entered the ledger (state submitting)
    SUBMIT = "submit"  # the runner accepted it: host and runner id known
    STATE = "state"  # state change: "old -> new: reason"
    MESSAGE = "message"  # a job message from the status file (severity, source_time set)
    ERROR = "error"  # a new error text (transport, agent, runner query)
    KILL = "kill"  # a kill was requested
    RUNNER_FORGOT = "runner-forgot"  # the runner stopped knowing the job
    NOTE = "note"  # anything else worth keeping

    def __str__(self) -> str:
        return self.value


class ExitSource(str, enum.Enum):
    """Where a recorded exit came from: only the status file is authoritative."""

    STATUS_FILE = "status-file"
    RUNNER = "runner"

    def __str__(self) -> str:
        return self.value


class Keep(enum.Enum):
    """Marker for "leave this column as it is" in a ``JobUpdate`` (None means clear)."""

    KEEP = "keep"


KEEP = Keep.KEEP


@dataclass(frozen=True)
class JobSpec:
    """A job to create: everything needed to submit it, and to submit it again."""

    run: str
    name: str  # any characters but NUL
    platform: str
    install_target: str
    runner: str
    script_path: str  # the user's script on the controller
    directives: Mapping[str, Any] = field(default_factory=dict)  # Directives fields (JSON-able)
    env: Mapping[str, str] = field(default_factory=dict)
    host: Optional[str] = None  # chosen host, when already known
    output: Optional[str] = None  # stdout+stderr path on the host, when the user chose one
    ecflow_task: Optional[str] = None  # the ecFlow task the job file names (JSON)


@dataclass(frozen=True)
class JobRecord:
    """One job submission as the ledger holds it."""

    id: int
    run: str
    name: str
    submit_num: int
    platform: str
    host: Optional[str]
    install_target: str
    runner: str
    runner_id: Optional[str]
    job_dir: str  # relative to the platform's run root
    state: JobState
    exit_code: Optional[int]
    exit_signal: Optional[str]
    exit_source: Optional[ExitSource]
    error: Optional[str]
    kill_requested: bool
    forgot_count: int
    unreachable_since: Optional[str]
    script_path: str
    directives: Mapping[str, Any]
    env: Mapping[str, str]
    created: str
    updated: str
    start_time: Optional[str] = None  # the job's own start (status file), ISO 8601
    exit_time: Optional[str] = None  # the job's own end (status file), ISO 8601
    output: Optional[str] = None
    ecflow_task: Optional[str] = None
    ecflow_told: bool = False

    @property
    def ref(self) -> str:
        """The job reference users pass as JOB: ``<run>/<id>``."""
        return job_ref(self.run, self.id)

    @property
    def exit(self) -> Optional[str]:
        """The exit as one word for listings: ``0``, ``1``, ``SIGTERM``; None when unknown."""
        if self.exit_signal:
            return f"SIG{self.exit_signal}"
        if self.exit_code is not None:
            return str(self.exit_code)
        return None


@dataclass(frozen=True)
class Event:
    """One history entry of one job."""

    id: int
    job_id: int
    time: str  # when the controller recorded it (ISO 8601 UTC)
    kind: EventKind
    detail: str
    severity: Optional[str] = None  # messages only
    source_time: Optional[str] = None  # messages only: the time the job wrote


@dataclass(frozen=True)
class EventNote:
    """An extra event an update asks to record."""

    kind: EventKind
    detail: str


@dataclass(frozen=True)
class JobUpdate:
    """Changes to one job; fields left at ``KEEP`` are not touched.

    ``expect_state``: apply only if the job is still in this state (the state
    the decision was based on); otherwise the update is reported stale, so two
    processes polling at once cannot overwrite each other's newer news.
    """

    job_id: int
    state: Union[JobState, Keep] = KEEP
    reason: str = ""  # written into the state event
    exit_code: Union[int, Keep, None] = KEEP
    exit_signal: Union[str, Keep, None] = KEEP
    exit_source: Union[ExitSource, Keep, None] = KEEP
    error: Union[str, Keep, None] = KEEP
    runner_id: Union[str, Keep, None] = KEEP
    host: Union[str, Keep, None] = KEEP
    forgot_count: Union[int, Keep] = KEEP
    unreachable_since: Union[str, Keep, None] = KEEP
    start_time: Union[str, Keep, None] = KEEP
    exit_time: Union[str, Keep, None] = KEEP
    ecflow_told: Union[bool, Keep] = KEEP
    messages: Tuple[Message, ...] = ()  # all messages in the status file; new ones are kept
    notes: Tuple[EventNote, ...] = ()
    expect_state: Optional[JobState] = None


@dataclass(frozen=True)
class ApplyReport:
    """What ``Ledger.apply`` did: ids changed, ids left alone as stale, and the
    jobs as the ledger held them when the transaction ended."""

    changed: Tuple[int, ...] = ()
    stale: Tuple[int, ...] = ()
    unchanged: Tuple[int, ...] = ()
    jobs: Mapping[int, JobRecord] = field(default_factory=dict)


@dataclass(frozen=True)
class RunSummary:
    run: str
    jobs: int
    created: str  # first job's creation
    updated: str  # latest change to any of its jobs
    states: Mapping[str, int] = field(default_factory=dict)  # state value -> count


def job_ref(run: str, job_id: int) -> str:
    return f"{run}/{job_id}"
