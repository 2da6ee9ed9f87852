"""IBM Spectrum LSF: ``bsub < job``, one ``bjobs -o`` per poll, ``bkill``.

Facts (LSF 10.1 documentation): bsub reads the script and its ``#BSUB``
lines on stdin and prints "Job <123> is submitted to queue <normal>.".
``bjobs`` lists finished jobs (DONE, EXIT) for CLEAN_PERIOD; an unknown id
prints "Job <123> is not found" (exit 255 with some ids known or not,
depending on LSB_BJOBS_CONSISTENT_EXIT_CODE): those ids are gone.
``bkill`` sends SIGINT and SIGTERM, then SIGKILL 20 s later; a pending job
is removed. At the run limit (``-W``) LSF sends SIGUSR2 and kills the job
if it has not ended ten minutes later; a CPU limit sends SIGXCPU.

No LSF here: tests use documented output. Host-side: stdlib, Python 3.8+.
"""

from __future__ import annotations

import re

from ..processes import CommandResult
from .base import (
    BatchRunner,
    KillOutcome,
    PollAnswer,
    RunnerJobInfo,
    RunnerState,
    SubmitRequest,
    check_id,
)
from .scheduler_text import kill_outcomes, only_lines_matching

TYPE_CHECKING = False  # importing typing costs the agent 4 ms of start: names for mypy only
if TYPE_CHECKING:
    from typing import ClassVar, Dict, List, Mapping, Optional, Sequence

P, R, D = RunnerState.PENDING, RunnerState.RUNNING, RunnerState.DONE

STATES: Mapping[str, RunnerState] = {
    "PEND": P,
    "PSUSP": P,  # suspended while pending
    "WAIT": P,  # chunk job member waiting
    "PROV": P,  # host being provisioned
    "RUN": R,
    "USUSP": R,  # suspended by the user while running
    "SSUSP": R,  # suspended by LSF while running
    "UNKWN": R,  # execution host unreachable: the job may still run
    "DONE": D,
    "EXIT": D,
    "ZOMBI": D,  # killed while its host was unreachable
}

NOT_FOUND = re.compile(r"Job <(\d+(?:\[\d+\])?)> is not found")
GONE_ON_KILL = re.compile(
    r"Job <(\d+(?:\[\d+\])?)>(?::| is)? "
    r"(?:Job has already finished|No matching job found|not found)"
)
CANCELLED = re.compile(r"Job <\d+(?:\[\d+\])?> is being (?:terminated|signaled)")
BJOBS_FORMAT = "jobid stat exit_code delimiter='|'"


def parse_bjobs(stdout: str) -> Dict[str, RunnerJobInfo]:
    """``bjobs -noheader -o "jobid stat exit_code delimiter='|'"`` lines."""
    jobs: Dict[str, RunnerJobInfo] = {}
    for line in stdout.splitlines():
        fields = line.strip().split("|")
        if len(fields) < 3 or not fields[0][:1].isdigit():
            continue
        job, stat, code = fields[0], fields[1], fields[2]
        mapped = STATES.get(stat, P)
        if mapped is D:
            exit_code: Optional[int] = int(code) if code.isdigit() else None
            if stat == "DONE":
                exit_code = 0
            jobs[job] = RunnerJobInfo(job, D, exit_code, None, stat)
        else:
            jobs[job] = RunnerJobInfo(job, mapped, reason=stat)
    return jobs


class LsfRunner(BatchRunner):
    name = "lsf"
    directive_prefix = "#BSUB"
    submit_argv = ("bsub",)
    submit_id_pattern = re.compile(r"Job <(?P<id>\d+)> is submitted")
    directive_formats: ClassVar[Mapping[str, str]] = {
        "time_limit": "-W {}",
        "cpus": "-n {}",
        "memory_mb": "-M {}MB",
        "queue": "-q {}",
        "account": "-P {}",
        "job_name": "-J {}",
    }
    output_directives = ("-o {dir}/job.out", "-e {dir}/job.err")
    time_limit_format = "minutes"  # -W [hour:]minute
    time_limit_signals = frozenset({"USR2", "XCPU"})
    # span[] is per-site policy: no portable node count
    unsupported_directives: ClassVar[Mapping[str, str]] = {
        "nodes": "LSF has no portable node count; use a raw -R directive",
    }

    def submit_command(self, job: SubmitRequest) -> List[str]:
        return [*self.options.command_prefix, *self.submit_argv]  # script on stdin

    def submit_stdin(self, job: SubmitRequest) -> Optional[str]:
        return job.script_text

    def poll_command(self, ids: Sequence[str]) -> List[str]:
        ids = [check_id(i) for i in ids]
        return [*self.options.command_prefix, "bjobs", "-noheader", "-o", BJOBS_FORMAT, *ids]

    def parse_poll(self, result: CommandResult, ids: Sequence[str]) -> PollAnswer:
        if not result.ok and not only_lines_matching(result.stderr, NOT_FOUND):
            return PollAnswer(error=result.describe())
        found = parse_bjobs(result.stdout)
        return PollAnswer({i: found.get(i, RunnerJobInfo(i, RunnerState.GONE)) for i in ids})

    def kill_command(self, ids: Sequence[str]) -> List[str]:
        return [*self.options.command_prefix, "bkill", *(check_id(i) for i in ids)]

    def force_kill_command(self, ids: Sequence[str]) -> Optional[List[str]]:
        # bkill -r: removes the job from LSF without waiting for the host to confirm its end
        return [*self.options.command_prefix, "bkill", "-r", *(check_id(i) for i in ids)]

    def parse_kill(self, ids: Sequence[str], result: CommandResult) -> List[KillOutcome]:
        return kill_outcomes(ids, result, GONE_ON_KILL, False, CANCELLED)
