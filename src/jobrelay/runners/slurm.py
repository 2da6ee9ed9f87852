"""Slurm: sbatch, one squeue per poll (sacct for jobs that left it), scancel.

Ids of a cluster-qualified submit are kept as ``"id;cluster"`` (what
``sbatch --parsable -M`` prints; Slurm lower-cases cluster names), since job
ids overlap between clusters.

Facts this module relies on (Slurm 22.05, man pages + the test cluster):
- ``squeue --jobs=`` listing only ids past MinJobAge exits 1 with
  "Invalid job id specified": those ids are gone, the query did not fail.
- ``squeue -M a,b`` prints a ``CLUSTER: name`` line (and, without ``-h``,
  a column header) before each cluster's jobs; with ``-h`` it prints neither,
  so clustered polls run without ``-h``.
- ``squeue -O exit_code`` is the raw wait status (768 = exit 3), known from
  COMPLETING on. A job whose node's slurmd died stays COMPLETING, with a
  reason (JobLaunchFailure), until slurmd is back: that one is done for us.
- ``sacct -X -P`` ``ExitCode`` is "code:signal"; ``State`` may read
  "CANCELLED by 1001".
- Plain ``scancel`` sends SIGCONT+SIGTERM to all of a running job's processes
  (the batch shell included), SIGKILL after KillWait; a pending job is just
  removed. An unknown id exits 0 silently. So one ``scancel`` per cluster is
  the whole kill: no signal sequence of our own is needed.
- At the time limit Slurm sends SIGTERM, then SIGKILL after KillWait (state
  TIMEOUT). Preemption (PreemptMode CANCEL or REQUEUE) also sends SIGTERM,
  SIGKILL after GraceTime; a requeued job keeps its id and is PENDING again.

Host-side: standard library only, Python 3.8+.
"""

from __future__ import annotations

import re

from ..processes import CommandExecutor, CommandResult
from .base import (
    BatchRunner,
    KillOutcome,
    KillTarget,
    PollAnswer,
    RunnerJobInfo,
    RunnerState,
    check_id,
)
from .directive_text import directive_token
from .exit_status import from_code_signal, from_wait_status

TYPE_CHECKING = False  # importing typing costs the agent 4 ms of start: names for mypy only
if TYPE_CHECKING:
    from typing import ClassVar, Dict, List, Mapping, Optional, Sequence, Tuple

P, R, D = RunnerState.PENDING, RunnerState.RUNNING, RunnerState.DONE

STATES: Mapping[str, RunnerState] = {
    "PENDING": P,
    "CONFIGURING": P,  # nodes booting: not yet running the script
    "REQUEUED": P,
    "REQUEUE_FED": P,
    "REQUEUE_HOLD": P,
    "RESV_DEL_HOLD": P,
    "SPECIAL_EXIT": P,  # requeued and held
    "RUNNING": R,
    "COMPLETING": R,  # with a reason (slurmd lost): done, see _squeue_info
    "SUSPENDED": R,
    "STOPPED": R,
    "RESIZING": R,
    "SIGNALING": R,
    "STAGE_OUT": R,
    "COMPLETED": D,
    "FAILED": D,
    "TIMEOUT": D,
    "CANCELLED": D,
    "NODE_FAIL": D,
    "PREEMPTED": D,
    "OUT_OF_MEMORY": D,
    "BOOT_FAIL": D,
    "DEADLINE": D,
    "REVOKED": D,
}

SQUEUE_FORMAT = "JobID:0|,State:0|,Reason:0|,exit_code:0"
NOT_FOUND = "Invalid job id specified"
_CLUSTER_LINE = re.compile(r"^CLUSTER:\s*(\S+)\s*$")
_ID_LINE = re.compile(r"^\d")


def split_id(runner_id: str) -> Tuple[str, Optional[str]]:
    """``"12;rjtest2"`` -> ("12", "rjtest2"); ``"12"`` -> ("12", None)."""
    job, _, cluster = check_id(runner_id).partition(";")
    return job, (cluster or None)


class SlurmRunner(BatchRunner):
    name = "slurm"
    directive_prefix = "#SBATCH"
    submit_argv = ("sbatch", "--parsable")
    submit_id_pattern = re.compile(r"^(?P<id>\d+)(?:;(?P<cluster>[A-Za-z0-9_.-]+))?\s*$", re.M)
    directive_formats: ClassVar[Mapping[str, str]] = {
        "time_limit": "--time={}",
        "cpus": "--cpus-per-task={}",
        "nodes": "--nodes={}",
        "memory_mb": "--mem={}M",
        "queue": "--partition={}",
        "account": "--account={}",
        "job_name": "--job-name={}",
    }
    # append: a requeued job runs again into the same files; keep the first run's output
    output_directives = (
        "--output={dir}/job.out",
        "--error={dir}/job.err",
        "--open-mode=append",
    )
    remote_files_directives = ("--chdir={dir}", "--export=NONE")
    time_limit_signals = frozenset({"TERM"})
    preemption_signals = frozenset({"TERM"})

    # -- building ------------------------------------------------------
    @property
    def cluster(self) -> Optional[str]:
        return self.options.cluster.lower() if self.options.cluster else None

    def submit_options(self) -> List[str]:
        # the cluster goes on the command line: the same script runs anywhere
        return [f"--clusters={directive_token(self.cluster)}"] if self.cluster else []

    def parse_submit(self, stdout: str) -> Optional[str]:
        match = self.submit_id_pattern.search(stdout)
        if not match:
            return None
        cluster = (match.group("cluster") or self.cluster or "").lower()
        return f"{match.group('id')};{cluster}" if cluster else match.group("id")

    # -- polling -------------------------------------------------------
    def poll_command(self, ids: Sequence[str]) -> List[str]:
        """One squeue for ``ids`` (all plain, or all cluster-qualified)."""
        parts = [split_id(i) for i in ids]
        jobs = ",".join(sorted({job for job, _ in parts}))
        clusters = sorted({c for _, c in parts if c})
        argv = [*self.options.command_prefix, "squeue", "--states=all", f"--jobs={jobs}"]
        if clusters:
            argv.append(f"--clusters={','.join(clusters)}")
        else:
            argv.append("--noheader")
        return [*argv, "--Format", SQUEUE_FORMAT]

    def parse_poll(self, result: CommandResult, ids: Sequence[str]) -> PollAnswer:
        if result.timed_out or result.start_error:
            return PollAnswer(error=result.describe())
        if not result.ok and not _only_not_found(result.stderr):
            return PollAnswer(error=result.describe())
        wanted = set(ids)
        jobs: Dict[str, RunnerJobInfo] = {}
        cluster: Optional[str] = None
        for line in result.stdout.splitlines():
            head = _CLUSTER_LINE.match(line)
            if head:
                cluster = head.group(1).lower()
                continue
            if not _ID_LINE.match(line):
                continue  # blank or column header
            fields = line.strip().split("|")
            if len(fields) < 4:
                continue
            key = f"{fields[0]};{cluster}" if cluster else fields[0]
            if key in wanted:
                jobs[key] = _squeue_info(key, fields[1], fields[2], fields[3])
        for runner_id in ids:
            jobs.setdefault(runner_id, RunnerJobInfo(runner_id, RunnerState.GONE))
        return PollAnswer(jobs)

    def poll(self, ids: Sequence[str], run: CommandExecutor) -> PollAnswer:
        """One squeue per kind of id (plain, clustered), then one sacct for the gone."""
        groups = _groups(ids)
        jobs: Dict[str, RunnerJobInfo] = {}
        for group in groups:
            result = run(self.poll_command(group), timeout=self.options.command_timeout)
            answer = self.parse_poll(result, group)
            if answer.error:
                return answer  # never call jobs gone because a query failed
            jobs.update(answer.jobs)
        gone = [i for i in ids if jobs[i].state is RunnerState.GONE]
        if gone and self.options.use_sacct:
            for group in _groups(gone):
                jobs.update(self._sacct(group, run))
        return PollAnswer({i: jobs[i] for i in ids})

    def sacct_command(self, ids: Sequence[str]) -> List[str]:
        parts = [split_id(i) for i in ids]
        jobs = ",".join(sorted({job for job, _ in parts}))
        clusters = sorted({c for _, c in parts if c})
        fields = "JobIDRaw,State,ExitCode,Reason" + (",Cluster" if clusters else "")
        argv = [*self.options.command_prefix, "sacct", "-X", "-n", "-P", "-o", fields]
        if clusters:
            argv.append(f"--clusters={','.join(clusters)}")
        return [*argv, f"--jobs={jobs}"]

    def parse_sacct(self, stdout: str, ids: Sequence[str]) -> Dict[str, RunnerJobInfo]:
        """Final states of ``ids`` from ``sacct``; live or unknown ones are left out."""
        wanted = set(ids)
        found: Dict[str, RunnerJobInfo] = {}
        for line in stdout.splitlines():
            fields = line.strip().split("|")
            if len(fields) < 4:
                continue
            key = f"{fields[0]};{fields[4].lower()}" if len(fields) > 4 else fields[0]
            state = fields[1].split(" ")[0]  # "CANCELLED by 1001"
            if key not in wanted or STATES.get(state) is not RunnerState.DONE:
                continue  # squeue is the authority on live jobs
            exit_code, sig = _unless_cancelled_unrun(state, *from_code_signal(fields[2]))
            found[key] = RunnerJobInfo(key, RunnerState.DONE, exit_code, sig, state)
        return found

    def _sacct(self, ids: Sequence[str], run: CommandExecutor) -> Dict[str, RunnerJobInfo]:
        result = run(self.sacct_command(ids), timeout=self.options.command_timeout)
        if not result.ok:
            return {}  # extra detail only: the jobs stay GONE
        return self.parse_sacct(result.stdout, ids)

    # -- killing -------------------------------------------------------
    def kill_command(self, ids: Sequence[str], *extra: str) -> List[str]:
        parts = [split_id(i) for i in ids]
        clusters = sorted({c for _, c in parts if c})
        argv = [*self.options.command_prefix, "scancel", *extra]
        if clusters:
            argv.append(f"--clusters={','.join(clusters)}")
        return [*argv, *sorted({job for job, _ in parts})]

    def kill(self, targets: Sequence[KillTarget], run: CommandExecutor) -> List[KillOutcome]:
        """One scancel per cluster (ids overlap between clusters)."""
        return self._scancel(targets, run)

    def escalate(self, targets: Sequence[KillTarget], run: CommandExecutor) -> List[KillOutcome]:
        """SIGKILL to every process of the job, batch shell included (``--full``)."""
        return self._scancel(targets, run, "--signal=KILL", "--full")

    def _scancel(
        self, targets: Sequence[KillTarget], run: CommandExecutor, *extra: str
    ) -> List[KillOutcome]:
        by_cluster: Dict[Optional[str], List[str]] = {}
        for target in targets:
            by_cluster.setdefault(split_id(target.runner_id)[1], []).append(target.runner_id)
        outcome: Dict[str, KillOutcome] = {}
        for ids in by_cluster.values():
            result = run(self.kill_command(ids, *extra), timeout=self.options.command_timeout)
            for runner_id in ids:
                outcome[runner_id] = _kill_outcome(runner_id, result)
        return [outcome[t.runner_id] for t in targets]


def _groups(ids: Sequence[str]) -> List[List[str]]:
    """Plain ids and cluster-qualified ids need different squeue lines."""
    plain = [i for i in ids if split_id(i)[1] is None]
    clustered = [i for i in ids if split_id(i)[1] is not None]
    return [g for g in (plain, clustered) if g]


def _only_not_found(stderr: str) -> bool:
    lines = [line for line in stderr.splitlines() if line.strip()]
    return bool(lines) and all(NOT_FOUND in line for line in lines)


#: squeue's reason for a job COMPLETING -> the final state it names (Slurm's
#: job reason strings; seen here: a time limit's job reads TIMEOUT/TimeLimit)
COMPLETING_TO = {
    "TimeLimit": "TIMEOUT",
    "OutOfMemory": "OUT_OF_MEMORY",
    "NodeDown": "NODE_FAIL",
    "NonZeroExitCode": "FAILED",
}


def _squeue_info(key: str, state: str, reason: str, raw_exit: str) -> RunnerJobInfo:
    mapped = STATES.get(state, RunnerState.PENDING if state else RunnerState.GONE)
    if state == "COMPLETING" and reason not in ("", "None"):
        # the batch script ended (its wait status is known) on a node that
        # cannot finish the cleanup (its slurmd died: JobLaunchFailure); the
        # job stays so until the node is back, and is done for us now. A
        # reason that names how it ended is the state it is completing to.
        mapped = RunnerState.DONE
        state = COMPLETING_TO.get(reason, state)
    if mapped is RunnerState.DONE:
        exit_code, sig = from_wait_status(int(raw_exit)) if raw_exit.isdigit() else (None, None)
        exit_code, sig = _unless_cancelled_unrun(state, exit_code, sig)
        return RunnerJobInfo(key, mapped, exit_code, sig, state)
    word = state if reason in ("", "None") else reason
    return RunnerJobInfo(key, mapped, reason=word)


def _unless_cancelled_unrun(
    state: str, exit_code: Optional[int], sig: Optional[str]
) -> Tuple[Optional[int], Optional[str]]:
    """A job cancelled before it ran reads "exit 0, no signal": that is no exit at all."""
    if state == "CANCELLED" and not exit_code and sig is None:
        return None, None
    return exit_code, sig


def _kill_outcome(runner_id: str, result: CommandResult) -> KillOutcome:
    if result.ok:
        return KillOutcome(runner_id, True, "cancelled")
    job = split_id(runner_id)[0]
    text = result.stderr + result.stdout
    named = re.findall(r"job(?: id)? (\d+)", text)
    if result.returncode is not None and named and job not in named:
        return KillOutcome(runner_id, True, "cancelled")  # the error was about another id
    return KillOutcome(runner_id, False, result.describe())
