"""The job runner interface, and the shared mechanism for batch schedulers.

A runner builds command lines and parses their output; it never runs a
command itself. Commands go through an executor (``CommandExecutor``) so the
same runner works inside the host agent (commands run on the job host) and
in the SSH-free controller (commands run locally, e.g. ``sbatch -M``).

Host-side: standard library only, Python 3.8+.
"""

from __future__ import annotations

import enum
import re
from abc import ABC, abstractmethod

from ..host_dataclasses import dataclass, field
from ..processes import CommandExecutor, CommandResult
from .directive_text import check_job_dir, check_line, directive_token, minutes_ceil, safe_job_name
from .directives import DirectiveError, DirectiveProblem, check, user_key
from .directives import Directives as Directives  # where runner plugins have always found it

TYPE_CHECKING = False  # importing typing costs the agent 4 ms of start: names for mypy only
if TYPE_CHECKING:
    from typing import (
        Callable,
        ClassVar,
        Dict,
        FrozenSet,
        List,
        Mapping,
        Optional,
        Pattern,
        Sequence,
        Tuple,
    )


class RunnerState(str, enum.Enum):
    """What the runner says about one job id."""

    PENDING = "pending"  # queued, held, or waiting to be requeued
    RUNNING = "running"
    DONE = "done"  # the runner says it ended; exit_code/signal when it knows them
    GONE = "gone"  # the runner no longer knows the id

    @property
    def ended(self) -> bool:
        """The runner does not run the job any more: it forgot it, or says it ended.
        A poll then reads the status file a second time (the job may have just
        written its end)."""
        return self is RunnerState.GONE or self is RunnerState.DONE


@dataclass(frozen=True)
class RunnerJobInfo:
    runner_id: str
    state: RunnerState
    exit_code: Optional[int] = None
    signal: Optional[str] = None  # name without SIG, e.g. "TERM"
    reason: str = ""  # the runner's own word: "TIMEOUT", "NODE_FAIL", "PREEMPTED", "R"…


@dataclass(frozen=True)
class PollAnswer:
    """One query for many ids. ``error`` set: the query failed, nothing is known."""

    jobs: Mapping[str, RunnerJobInfo] = field(default_factory=dict)
    error: Optional[str] = None


@dataclass(frozen=True)
class SubmitRequest:
    job_dir: str  # absolute path of the job dir on the host that runs the command
    job_file: str  # absolute path of the job script ("job") inside it
    script_text: str  # the job script's content (for runners fed on stdin)


@dataclass(frozen=True)
class SubmitOutcome:
    runner_id: Optional[str]
    error: Optional[str] = None
    # the submit command timed out: the runner may have the job all the same
    uncertain: bool = False


@dataclass(frozen=True)
class KillTarget:
    runner_id: str
    pid: Optional[int] = None  # the wrapper's pid from job.status, once it started
    job_dir: str = ""  # absolute path of the job dir


@dataclass(frozen=True)
class KillOutcome:
    runner_id: str
    ok: bool  # True: the job is gone or on its way out (also "already gone")
    detail: str = ""


@dataclass(frozen=True)
class RunnerOptions:
    """Per-platform settings a runner may use."""

    cluster: Optional[str] = None  # Slurm --clusters
    command_timeout: float = 30.0  # seconds for any one runner command
    kill_grace: float = 5.0  # seconds a kill waits before the harder kill (TERM -> KILL)
    kill_timeout: float = 60.0  # seconds a kill may take to be verified (the job gone)
    use_sacct: bool = True  # Slurm: ask sacct for jobs that left squeue
    command_prefix: Tuple[str, ...] = ()  # e.g. ("runuser", "-u", "bob", "--") for SSH-free
    #: the job's files exist on the job host only, not where the runner's
    #: commands run (SSH-free): the script goes on stdin, from cwd "/"
    remote_files: bool = False


class Runner(ABC):
    """What the agent (or the SSH-free controller) needs from a job runner."""

    name: ClassVar[str]
    #: signals (names without SIG) this runner uses to end a job over its time limit
    time_limit_signals: ClassVar[FrozenSet[str]] = frozenset({"XCPU"})
    #: signals this runner uses to preempt a job that it will requeue
    preemption_signals: ClassVar[FrozenSet[str]] = frozenset()
    #: True when a successful kill() has verified the job's processes are gone,
    #: so the agent may record the exit itself if the wrapper could not
    kill_verifies_gone: ClassVar[bool] = False
    #: True when only the host that started a job can see it (background: /proc;
    #: at: the host's atd), so poll and kill must go to that host
    host_bound: ClassVar[bool] = False
    #: directive fields this runner has no form for -> what to do instead
    unsupported_directives: ClassVar[Mapping[str, str]] = {}

    def __init__(self, options: Optional[RunnerOptions] = None) -> None:
        self.options = options or RunnerOptions()

    @classmethod
    def check_directives(cls, directives: Directives) -> Directives:
        """``directives`` if this runner can write every one of them, else a
        DirectiveError naming each problem: a value outside the schema, or a
        directive this runner has no form for. The controller asks before
        any host is contacted; batch runners ask again when they write."""
        problems: List[DirectiveProblem] = []
        try:
            check(directives)
        except DirectiveError as exc:
            problems.extend(exc.problems)
        for name, instead in cls.unsupported_directives.items():
            if getattr(directives, name) not in (None, ()):
                problems.append(DirectiveProblem(user_key(name), f"{cls.name}: {instead}"))
        if problems:
            raise DirectiveError(problems)
        return directives

    @abstractmethod
    def header_lines(self, directives: Directives, job_dir: str) -> List[str]:
        """Lines for the job script's head: directives, or exports the wrapper reads.

        Output and error paths must point into ``job_dir``.
        """

    @abstractmethod
    def submit(self, jobs: Sequence[SubmitRequest], run: CommandExecutor) -> List[SubmitOutcome]:
        """Submit each job; one outcome per request, in order."""

    @abstractmethod
    def poll(self, ids: Sequence[str], run: CommandExecutor) -> PollAnswer:
        """Ask about many ids in as few commands as the runner allows (goal: one)."""

    @abstractmethod
    def kill(self, targets: Sequence[KillTarget], run: CommandExecutor) -> List[KillOutcome]:
        """End each job; one outcome per target, in order. Already gone is ``ok``."""

    def escalate(self, targets: Sequence[KillTarget], run: CommandExecutor) -> List[KillOutcome]:
        """The harder kill, for jobs still there ``kill_grace`` after ``kill``
        (the runner's own escalation, e.g. TERM then KILL, having not been
        enough). By default: kill again."""
        return self.kill(targets, run)


def after_grace(options: RunnerOptions) -> str:
    """How a kill that needed the harder kill is described, the same for every runner."""
    return f"TERM, then KILL after {options.kill_grace:g} s"


#: a kill whose grace outlasts its bound: TERM was sent, the harder kill is not due
TERM_ONLY = "TERM sent; the harder kill would come after kill_grace, beyond kill_timeout"


def grace_within_bound(options: RunnerOptions) -> float:
    """Seconds a runner's own kill waits after TERM: the grace, never past the bound."""
    return min(options.kill_grace, options.kill_timeout)


def harder_kill_due(options: RunnerOptions) -> bool:
    """The harder kill comes within ``kill_timeout`` (else the kill stays TERM only)."""
    return options.kill_grace < options.kill_timeout


class BatchRunner(Runner):
    """Template for schedulers driven by a submit, a query and a cancel command.

    A concrete scheduler fills in the class attributes and the parse methods;
    everything else (directive lines and their safety, timeouts, errors,
    per-job outcomes) is here once. Directive values are checked against the
    schema and written as single tokens, the job dir must be a plain path, and
    every header line is refused if it holds a newline: a scheduler module
    that only fills in its formats cannot be made to write another directive.
    """

    directive_prefix: ClassVar[str]  # "#SBATCH"
    submit_argv: ClassVar[Tuple[str, ...]]  # ("sbatch", "--parsable")
    submit_id_pattern: ClassVar[Pattern[str]]  # group "id" is the job id
    #: portable field -> format string for one directive (``{}`` is the value)
    directive_formats: ClassVar[Mapping[str, str]] = {}
    #: directive lines naming output/error files; ``{dir}`` is the job dir
    output_directives: ClassVar[Tuple[str, ...]] = ()
    #: how a time limit is written: "hms" (H:MM:SS), "minutes" (rounded up), "seconds"
    time_limit_format: ClassVar[str] = "hms"
    #: job names are reduced to [A-Za-z0-9_.-], this long at most
    job_name_max: ClassVar[int] = 64
    #: True when the scheduler wants a job name to start with a letter
    job_name_alpha_first: ClassVar[bool] = False
    #: submit commands in flight at once: a scheduler's client spends most of
    #: its time waiting for the scheduler
    submit_concurrency: ClassVar[int] = 8
    #: directive lines (``{dir}`` is the job dir) a job needs when its files are
    #: on the job host only (``RunnerOptions.remote_files``): the submitting
    #: process's cwd and environment mean nothing there. Empty: the runner
    #: cannot submit that way.
    remote_files_directives: ClassVar[Tuple[str, ...]] = ()

    # -- building ------------------------------------------------------
    def header_lines(self, directives: Directives, job_dir: str) -> List[str]:
        self.check_directives(directives)
        check_job_dir(job_dir)
        ours = self.output_directives
        if self.options.remote_files:
            ours = self.remote_files_directives + ours
        bodies = [d.format(dir=job_dir) for d in ours]
        bodies.extend(self.resource_directives(directives))
        for key, fmt in self.directive_formats.items():
            value = getattr(directives, key)
            if value is not None:
                bodies.append(fmt.format(self.format_value(key, value)))
        lines = [f"{self.directive_prefix} {body}" for body in bodies]
        lines.extend(directives.raw)
        return [check_line(line) for line in lines]

    def resource_directives(self, directives: Directives) -> List[str]:
        """Directives (without the prefix) that combine several fields, e.g. PBS
        ``-l select=...``; they follow the output directives."""
        return []

    def format_value(self, key: str, value: object) -> str:
        """How a portable value is written in this runner's directives: one token."""
        if key == "time_limit" and isinstance(value, int):
            return TIME_FORMATS[self.time_limit_format](value)
        if key == "job_name":
            return safe_job_name(str(value), self.job_name_max, self.job_name_alpha_first)
        return directive_token(value)

    def submit_command(self, job: SubmitRequest) -> List[str]:
        # remote files: no file name, so the command reads the script on stdin
        script = [] if self.options.remote_files else [job.job_file]
        return [*self.options.command_prefix, *self.submit_argv, *self.submit_options(), *script]

    def submit_options(self) -> List[str]:
        """Options of the submit command beyond ``submit_argv`` (e.g. a cluster)."""
        return []

    def submit_stdin(self, job: SubmitRequest) -> Optional[str]:
        return job.script_text if self.options.remote_files else None

    def parse_submit(self, stdout: str) -> Optional[str]:
        match = self.submit_id_pattern.search(stdout)
        return match.group("id") if match else None

    @abstractmethod
    def poll_command(self, ids: Sequence[str]) -> List[str]: ...

    @abstractmethod
    def parse_poll(self, result: CommandResult, ids: Sequence[str]) -> PollAnswer:
        """Turn the query's result into an answer; ids not listed are ``GONE``."""

    @abstractmethod
    def kill_command(self, ids: Sequence[str]) -> List[str]: ...

    def force_kill_command(self, ids: Sequence[str]) -> Optional[List[str]]:
        """The scheduler's forced cancel for jobs a plain cancel did not end
        (``escalate``); None: cancel again."""
        return None

    # -- running -------------------------------------------------------
    def submit(self, jobs: Sequence[SubmitRequest], run: CommandExecutor) -> List[SubmitOutcome]:
        """One submit command per job, up to ``submit_concurrency`` in flight
        (each costs a process and a round trip to the scheduler)."""
        width = min(max(1, self.submit_concurrency), len(jobs))
        if width <= 1:
            return [self.submit_one(job, run) for job in jobs]
        from concurrent.futures import ThreadPoolExecutor  # only when there is work for it

        with ThreadPoolExecutor(max_workers=width) as pool:
            return list(pool.map(lambda job: self.submit_one(job, run), jobs))

    def submit_one(self, job: SubmitRequest, run: CommandExecutor) -> SubmitOutcome:
        result = run(
            self.submit_command(job),
            stdin=self.submit_stdin(job),
            # remote files: the job dir is not here; "/" is a cwd any user can enter
            cwd="/" if self.options.remote_files else job.job_dir,
            timeout=self.options.command_timeout,
        )
        if result.timed_out:
            return SubmitOutcome(None, result.describe(), uncertain=True)
        if not result.ok:
            return SubmitOutcome(None, result.describe())
        runner_id = self.parse_submit(result.stdout)
        if runner_id is None:
            return SubmitOutcome(None, f"no job id in {self.name} output: {result.stdout[:200]!r}")
        return SubmitOutcome(runner_id)

    def poll(self, ids: Sequence[str], run: CommandExecutor) -> PollAnswer:
        if not ids:
            return PollAnswer()
        result = run(self.poll_command(ids), timeout=self.options.command_timeout)
        if result.timed_out:
            return PollAnswer(error=result.describe())
        return self.parse_poll(result, ids)

    def kill(self, targets: Sequence[KillTarget], run: CommandExecutor) -> List[KillOutcome]:
        if not targets:
            return []
        ids = [t.runner_id for t in targets]
        result = run(self.kill_command(ids), timeout=self.options.command_timeout)
        return self.parse_kill(ids, result)

    def escalate(self, targets: Sequence[KillTarget], run: CommandExecutor) -> List[KillOutcome]:
        ids = [t.runner_id for t in targets]
        argv = self.force_kill_command(ids) if ids else None
        if argv is None:
            return self.kill(targets, run)
        return self.parse_kill(ids, run(argv, timeout=self.options.command_timeout))

    def parse_kill(self, ids: Sequence[str], result: CommandResult) -> List[KillOutcome]:
        """One outcome per id from the cancel command's result (override for per-id output)."""
        if result.ok:
            return [KillOutcome(i, True, "cancelled") for i in ids]
        return [KillOutcome(i, False, result.describe()) for i in ids]


def nodes_with_cpus(d: Directives, cpus_word: str, sep: str) -> List[str]:
    """``["nodes=N<sep><cpus_word>=C"]`` (N is 1 unless given; the CPUs part only
    when set), or ``[]`` with neither: Torque ``nodes=2:ppn=4``, OAR ``nodes=2/core=4``."""
    if d.nodes is None and d.cpus is None:
        return []
    return [f"nodes={d.nodes or 1}" + (f"{sep}{cpus_word}={d.cpus}" if d.cpus else "")]


def one_option(option: str, parts: Sequence[str]) -> List[str]:
    """``parts`` as one directive, ``option a,b,c`` (several would read as
    alternatives to some schedulers), or none."""
    return [f"{option} {','.join(parts)}"] if parts else []


def format_hms(seconds: int) -> str:
    """Seconds as H:MM:SS, the time-limit form most schedulers accept."""
    hours, rest = divmod(max(0, seconds), 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}"


TIME_FORMATS: Mapping[str, Callable[[int], str]] = {
    "hms": format_hms,
    "minutes": lambda seconds: str(minutes_ceil(seconds)),
    "seconds": str,
}


def states_from_codes(
    codes: Mapping[str, str], table: Mapping[str, RunnerState], default: RunnerState
) -> Dict[str, RunnerState]:
    """Map native state codes (id -> code) to runner states through ``table``."""
    return {job_id: table.get(code, default) for job_id, code in codes.items()}


ID_SAFE = re.compile(r"^[A-Za-z0-9_.;:@\[\]-]{1,128}\Z")


def check_id(runner_id: str) -> str:
    """Refuse runner ids that could be anything but an id on a command line."""
    if not ID_SAFE.match(runner_id) or runner_id.startswith("-"):
        raise ValueError(f"not a runner job id: {runner_id!r}")
    return runner_id
