"""PBS Pro / OpenPBS (``pbs``) and Torque (``torque``): qsub, qstat, qdel.

PBS Pro: ``qstat -x -f -F json ids`` (``-x`` keeps finished jobs, state F,
for job_history_duration). Torque has neither ``-x`` nor ``-F``: ``qstat -f
ids`` text, completed jobs (state C) kept for keep_completed seconds. Both
name unknown ids on stderr ("Unknown Job Id") with a non-zero exit: those
ids are gone, the query did not fail. Both report ``Exit_status`` >= 256
for a job killed by a signal (256 + signal number); negative values are
PBS's own "could not run the job" codes.

Time limit (walltime): SIGTERM, then SIGKILL after kill_delay. ``qdel``
does the same to a running job and removes a queued one.

No PBS server here: tests use documented output. Host-side: stdlib, 3.8+.
"""

from __future__ import annotations

import json
import re

from ..processes import CommandResult
from .base import (
    BatchRunner,
    Directives,
    KillOutcome,
    PollAnswer,
    RunnerJobInfo,
    RunnerState,
    check_id,
    nodes_with_cpus,
    one_option,
)
from .exit_status import signal_name
from .scheduler_text import kill_outcomes, only_lines_matching

TYPE_CHECKING = False  # importing typing costs the agent 4 ms of start: names for mypy only
if TYPE_CHECKING:
    from typing import Any, ClassVar, Dict, List, Mapping, Optional, Sequence, Tuple

P, R, D = RunnerState.PENDING, RunnerState.RUNNING, RunnerState.DONE

STATES: Mapping[str, RunnerState] = {
    "Q": P,  # queued
    "H": P,  # held
    "W": P,  # waiting for its start time
    "T": P,  # in transit
    "M": P,  # moved to another server
    "R": R,
    "E": R,  # exiting: still cleaning up
    "B": R,  # array job begun
    "S": R,  # suspended
    "U": R,  # suspended (workstation busy)
    "F": D,  # finished (PBS Pro, -x)
    "X": D,  # subjob finished
    "C": D,  # completed (Torque)
}

UNKNOWN_JOB = re.compile(r"Unknown Job Id(?: Error)?\s+(\S+)")
GONE_ON_KILL = re.compile(r"(?:Unknown Job Id|Job has finished)(?: Error)?\s+(\S+)")


def exit_info(status: Optional[int]) -> Tuple[Optional[int], Optional[str], str]:
    """PBS ``Exit_status`` as (exit code, signal, note)."""
    if status is None:
        return None, None, ""
    if status >= 256:
        return None, signal_name(status - 256), ""
    if status < 0:
        return None, None, f"Exit_status={status}"  # PBS could not run the job
    return status, None, ""


def _info(runner_id: str, state: str, status: Optional[int]) -> RunnerJobInfo:
    mapped = STATES.get(state, P)
    if mapped is not D:
        return RunnerJobInfo(runner_id, mapped, reason=state)
    code, sig, note = exit_info(status)
    return RunnerJobInfo(runner_id, D, code, sig, f"{state} {note}".strip())


def _match(found: Mapping[str, Any], runner_id: str) -> Optional[Any]:
    """qstat may print ``12.server.domain`` for the ``12.server`` qsub gave."""
    if runner_id in found:
        return found[runner_id]
    number = runner_id.split(".")[0]
    for key, value in found.items():
        if key.split(".")[0] == number:
            return value
    return None


def parse_qstat_json(stdout: str) -> Dict[str, Dict[str, Any]]:
    """PBS Pro ``qstat -f -F json``: full id -> job attributes."""
    data = json.loads(stdout) if stdout.strip() else {}
    jobs = data.get("Jobs", {}) if isinstance(data, dict) else {}
    return {str(k): v for k, v in jobs.items() if isinstance(v, dict)}


def parse_qstat_full(stdout: str) -> Dict[str, Dict[str, str]]:
    """``qstat -f`` text (Torque, PBS): full id -> {attribute: value}."""
    jobs: Dict[str, Dict[str, str]] = {}
    current: Optional[Dict[str, str]] = None
    for line in stdout.splitlines():
        if line.startswith("Job Id:"):
            current = jobs.setdefault(line.split(":", 1)[1].strip(), {})
        elif current is not None and " = " in line and line[:1].isspace():
            key, _, value = line.strip().partition(" = ")
            current[key] = value
    return jobs


def _int(value: object) -> Optional[int]:
    try:
        return int(str(value))
    except ValueError:
        return None


class PbsRunner(BatchRunner):
    name = "pbs"
    directive_prefix = "#PBS"
    submit_argv = ("qsub",)
    submit_id_pattern = re.compile(r"^(?P<id>\d+(?:\[\d*\])?(?:\.[A-Za-z0-9_.-]+)?)\s*$", re.M)
    directive_formats: ClassVar[Mapping[str, str]] = {
        "time_limit": "-l walltime={}",
        "queue": "-q {}",
        "account": "-A {}",
        "job_name": "-N {}",
    }
    output_directives = ("-o {dir}/job.out", "-e {dir}/job.err")
    time_limit_signals = frozenset({"TERM"})
    job_name_max = 236
    job_name_alpha_first = True

    def resource_directives(self, d: Directives) -> List[str]:
        """PBS Pro asks for chunks: ``-l select=N:ncpus=C:mem=Mmb``."""
        if d.nodes is None and d.cpus is None and d.memory_mb is None:
            return []
        chunk = str(d.nodes or 1)
        if d.cpus is not None:
            chunk += f":ncpus={d.cpus}"
        if d.memory_mb is not None:
            chunk += f":mem={d.memory_mb}mb"
        return [f"-l select={chunk}"]

    def poll_command(self, ids: Sequence[str]) -> List[str]:
        ids = [check_id(i) for i in ids]
        return [*self.options.command_prefix, "qstat", "-x", "-f", "-F", "json", *ids]

    def parse_poll(self, result: CommandResult, ids: Sequence[str]) -> PollAnswer:
        if not result.ok and not only_lines_matching(result.stderr, UNKNOWN_JOB):
            return PollAnswer(error=result.describe())
        try:
            found = self.parse_jobs(result.stdout)
        except ValueError as exc:
            return PollAnswer(error=f"qstat: unreadable output: {exc}")
        jobs = {}
        for runner_id in ids:
            attrs = _match(found, runner_id)
            if attrs is None:
                jobs[runner_id] = RunnerJobInfo(runner_id, RunnerState.GONE)
            else:
                status = attrs.get("Exit_status", attrs.get("exit_status"))
                jobs[runner_id] = _info(runner_id, str(attrs.get("job_state", "")), _int(status))
        return PollAnswer(jobs)

    def parse_jobs(self, stdout: str) -> Mapping[str, Mapping[str, Any]]:
        return parse_qstat_json(stdout)

    def kill_command(self, ids: Sequence[str]) -> List[str]:
        return [*self.options.command_prefix, "qdel", *(check_id(i) for i in ids)]

    def force_kill_command(self, ids: Sequence[str]) -> Optional[List[str]]:
        # qdel -W force: deletes the job even when its MoM does not answer (PBS Pro, Torque)
        return [*self.options.command_prefix, "qdel", "-W", "force", *(check_id(i) for i in ids)]

    def parse_kill(self, ids: Sequence[str], result: CommandResult) -> List[KillOutcome]:
        return kill_outcomes(ids, result, GONE_ON_KILL)


class TorqueRunner(PbsRunner):
    """Torque: the same commands without PBS Pro's ``-x``/``-F json``."""

    name = "torque"
    job_name_max = 15  # older Torque servers refuse longer job names

    def resource_directives(self, d: Directives) -> List[str]:
        parts = nodes_with_cpus(d, "ppn", ":")
        if d.memory_mb is not None:
            parts.append(f"mem={d.memory_mb}mb")
        return one_option("-l", parts)

    def poll_command(self, ids: Sequence[str]) -> List[str]:
        return [*self.options.command_prefix, "qstat", "-f", *(check_id(i) for i in ids)]

    def parse_jobs(self, stdout: str) -> Mapping[str, Mapping[str, Any]]:
        return parse_qstat_full(stdout)
