"""(Son of / Univa / Open) Grid Engine: qsub, one ``qstat`` per poll, qdel.

Facts (Grid Engine 8.1 man pages): qsub prints 'Your job 123 ("name") has
been submitted'. Plain ``qstat`` lists the caller's pending and running
jobs only: a finished job is simply absent, so absent ids are GONE (``qacct``
could give the exit status, but only where accounting is readable; not
asked: the job's status file has it). State letters combine: ``qw``/``hqw``
pending, ``r``/``t`` running, ``s``/``S``/``T`` suspended, ``R`` restarted,
``d`` being deleted, ``E`` error (a pending job that will not start until
the error is cleared). The queue's shell is not the script's ``#!``: jobs
get ``-S /bin/bash``. At ``h_rt`` the job gets SIGKILL (nothing to trap); at
``s_rt`` SIGUSR1, with ``-notify`` SIGUSR2 shortly before a kill. ``qdel``
of an unknown id says 'denied: job "123" does not exist'.

No Grid Engine here: tests use documented output. Host-side: stdlib, 3.8+.
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
    check_id,
)
from .scheduler_text import kill_outcomes

TYPE_CHECKING = False  # importing typing costs the agent 4 ms of start: names for mypy only
if TYPE_CHECKING:
    from typing import ClassVar, Dict, List, Mapping, Optional, Sequence

GONE_ON_KILL = re.compile(r'job "?(\d+)"? does not exist')
CANCELLED = re.compile(r"registered the job \d+ for deletion|deleted job \d+")


def sge_state(letters: str) -> RunnerState:
    """Grid Engine state letters (``qw``, ``hRwq``, ``r``, ``Eqw``, ``dr``…)."""
    if "E" in letters or "q" in letters or "w" in letters:
        return RunnerState.PENDING
    if any(c in letters for c in "rtsSTR"):
        return RunnerState.RUNNING
    return RunnerState.PENDING


def parse_qstat(stdout: str) -> Dict[str, RunnerJobInfo]:
    """Plain ``qstat`` table: job-ID prior name user state submit/start-at queue slots."""
    jobs: Dict[str, RunnerJobInfo] = {}
    for line in stdout.splitlines():
        fields = line.split()
        if len(fields) >= 5 and fields[0].isdigit():
            # an array job has one line per task: any task alive keeps the job alive
            info = RunnerJobInfo(fields[0], sge_state(fields[4]), reason=fields[4])
            seen = jobs.get(fields[0])
            if seen is None or seen.state is not RunnerState.RUNNING:
                jobs[fields[0]] = info
    return jobs


class SgeRunner(BatchRunner):
    name = "sge"
    directive_prefix = "#$"
    submit_argv = ("qsub",)
    submit_id_pattern = re.compile(r"Your job(?:-array)? (?P<id>\d+)")
    directive_formats: ClassVar[Mapping[str, str]] = {
        "time_limit": "-l h_rt={}",
        "cpus": "-pe smp {}",  # the parallel environment's name is site policy
        "memory_mb": "-l h_vmem={}M",
        "queue": "-q {}",
        "account": "-A {}",
        "job_name": "-N {}",
    }
    output_directives = ("-S /bin/bash", "-o {dir}/job.out", "-e {dir}/job.err")
    time_limit_signals = frozenset({"USR1", "USR2", "XCPU"})
    job_name_alpha_first = True
    unsupported_directives: ClassVar[Mapping[str, str]] = {
        "nodes": "Grid Engine has no node count; use a raw -pe directive",
    }

    def poll_command(self, ids: Sequence[str]) -> List[str]:
        for runner_id in ids:
            check_id(runner_id)
        return [*self.options.command_prefix, "qstat"]  # all the caller's jobs, one call

    def parse_poll(self, result: CommandResult, ids: Sequence[str]) -> PollAnswer:
        if not result.ok:
            return PollAnswer(error=result.describe())
        found = parse_qstat(result.stdout)
        return PollAnswer({i: found.get(i, RunnerJobInfo(i, RunnerState.GONE)) for i in ids})

    def kill_command(self, ids: Sequence[str]) -> List[str]:
        return [*self.options.command_prefix, "qdel", *(check_id(i) for i in ids)]

    def force_kill_command(self, ids: Sequence[str]) -> Optional[List[str]]:
        # qdel -f: forced deletion, for a job a plain qdel leaves running (unreachable execd)
        return [*self.options.command_prefix, "qdel", "-f", *(check_id(i) for i in ids)]

    def parse_kill(self, ids: Sequence[str], result: CommandResult) -> List[KillOutcome]:
        return kill_outcomes(ids, result, GONE_ON_KILL, False, CANCELLED)
