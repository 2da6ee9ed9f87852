"""at: submit with ``at now``, poll with one ``atq``, kill with atrm or signals.

Facts (at 3.2.5, Debian): ``at`` reads the commands on stdin and runs them
with /bin/sh; it prints ``job N at <date>`` on stderr and mails the job's
output unless it is redirected (so it is, into the job dir). ``atq`` lists a
running job in queue ``=`` and forgets it when it ends. ``atrm`` of a running
job leaves it running, and the job starts inside atd's process group (never
signal that group): the commands fed to at therefore ``exec setsid`` the job
script, which makes its pid (the wrapper's, recorded in job.status) the
leader of a group of its own, and that whole group is what kill signals.
``atrm`` of an unknown id says "Cannot find jobid N" and exits 1.

at has no directives: a time limit is not enforced (``header_lines`` is
empty apart from raw lines).

Host-side: standard library only, Python 3.8+.
"""

from __future__ import annotations

import re
import shlex
import time

from ..host_dataclasses import dataclass
from ..processes import CommandExecutor, CommandResult
from ..status import keys
from .base import (
    Directives,
    KillOutcome,
    KillTarget,
    PollAnswer,
    Runner,
    RunnerJobInfo,
    RunnerState,
    SubmitOutcome,
    SubmitRequest,
    check_id,
)

TYPE_CHECKING = False  # importing typing costs the agent 4 ms of start: names for mypy only
if TYPE_CHECKING:
    from typing import ClassVar, Dict, FrozenSet, List, Optional, Sequence

SUBMIT_ID = re.compile(r"^job (?P<id>\d+) at ", re.M)
ATQ_LINE = re.compile(r"^(?P<id>\d+)\s+.*\s(?P<queue>\S)\s+\S+\s*$")
ATRM_UNKNOWN = re.compile(r"Cannot find jobid (\d+)")
RUNNING_QUEUE = "="


def at_commands(job: SubmitRequest) -> str:
    """The /bin/sh commands at runs: the job in its own process group, output kept."""
    d = shlex.quote(job.job_dir)
    out = shlex.quote(f"{job.job_dir}/{keys.OUT_FILE}")
    err = shlex.quote(f"{job.job_dir}/{keys.ERR_FILE}")
    return f"cd {d} && exec setsid bash {shlex.quote(job.job_file)} </dev/null >{out} 2>{err}\n"


def parse_atq(stdout: str) -> Dict[str, str]:
    """``atq`` output as id -> queue letter (``=`` is running)."""
    queues = {}
    for line in stdout.splitlines():
        match = ATQ_LINE.match(line.strip())
        if match:
            queues[match.group("id")] = match.group("queue")
    return queues


@dataclass(frozen=True)
class Proc:
    pid: int
    pgid: int
    stat: str
    args: str


def parse_ps(stdout: str) -> List[Proc]:
    """``ps -e -o pid=,pgid=,stat=,args=`` lines."""
    procs = []
    for line in stdout.splitlines():
        parts = line.split(None, 3)
        if len(parts) >= 3 and parts[0].isdigit() and parts[1].isdigit():
            args = parts[3] if len(parts) > 3 else ""
            procs.append(Proc(int(parts[0]), int(parts[1]), parts[2], args))
    return procs


def job_group(procs: Sequence[Proc], target: KillTarget) -> Optional[int]:
    """The pgid of the target's job, only if its leader is provably that job.

    The leader must lead its own group and run this job's file: a recycled pid,
    or atd's own group, never qualifies.
    """
    job_file = f"{target.job_dir.rstrip('/')}/{keys.JOB_FILE}"
    for proc in procs:
        is_job = proc.pid == proc.pgid and proc.args.endswith(" " + job_file)
        if is_job and "Z" not in proc.stat and (target.pid is None or target.pid == proc.pid):
            return proc.pgid
    return None


def live_groups(procs: Sequence[Proc], groups: Sequence[int]) -> List[int]:
    # zombies linger until reaped: they are not alive
    alive = {p.pgid for p in procs if "Z" not in p.stat}
    return [g for g in groups if g in alive]


class AtRunner(Runner):
    name = "at"
    time_limit_signals: ClassVar[FrozenSet[str]] = frozenset()  # at has no time limits
    host_bound = True  # only the host whose atd queued the job knows it

    def header_lines(self, directives: Directives, job_dir: str) -> List[str]:
        return list(directives.raw)

    def _run(self, run: CommandExecutor, argv: Sequence[str]) -> CommandResult:
        return run([*self.options.command_prefix, *argv], timeout=self.options.command_timeout)

    def submit(self, jobs: Sequence[SubmitRequest], run: CommandExecutor) -> List[SubmitOutcome]:
        outcomes = []
        for job in jobs:
            result = run(
                [*self.options.command_prefix, "at", "-M", "now"],
                stdin=at_commands(job),
                cwd=job.job_dir,
                timeout=self.options.command_timeout,
            )
            match = SUBMIT_ID.search(result.stderr + "\n" + result.stdout)
            if not result.ok:
                outcomes.append(SubmitOutcome(None, result.describe()))
            elif match is None:
                detail = f"no job id in at output: {result.stderr[:200]!r}"
                outcomes.append(SubmitOutcome(None, detail))
            else:
                outcomes.append(SubmitOutcome(match.group("id")))
        return outcomes

    def poll(self, ids: Sequence[str], run: CommandExecutor) -> PollAnswer:
        for runner_id in ids:
            check_id(runner_id)
        if not ids:
            return PollAnswer()
        result = self._run(run, ["atq"])
        if not result.ok:
            return PollAnswer(error=result.describe())
        queues = parse_atq(result.stdout)
        jobs = {}
        for runner_id in ids:
            queue = queues.get(runner_id)
            if queue is None:
                jobs[runner_id] = RunnerJobInfo(runner_id, RunnerState.GONE)
            elif queue == RUNNING_QUEUE:
                jobs[runner_id] = RunnerJobInfo(runner_id, RunnerState.RUNNING, reason=queue)
            else:
                jobs[runner_id] = RunnerJobInfo(runner_id, RunnerState.PENDING, reason=queue)
        return PollAnswer(jobs)

    def kill(self, targets: Sequence[KillTarget], run: CommandExecutor) -> List[KillOutcome]:
        """Pending: atrm. Running: TERM the job's group, KILL what is left after the grace."""
        for target in targets:
            check_id(target.runner_id)
        if not targets:
            return []
        listing = self._run(run, ["atq"])
        if not listing.ok:
            return [KillOutcome(t.runner_id, False, listing.describe()) for t in targets]
        queues = parse_atq(listing.stdout)
        outcome: Dict[str, KillOutcome] = {}
        pending = [t.runner_id for t in targets if queues.get(t.runner_id, RUNNING_QUEUE) != "="]
        if pending:
            removed = self._run(run, ["atrm", *pending])
            unknown = set(ATRM_UNKNOWN.findall(removed.stderr))
            for runner_id in pending:
                if removed.ok or runner_id in unknown:
                    outcome[runner_id] = KillOutcome(runner_id, True, "removed from the at queue")
        # running jobs, and pending ones that may have started meanwhile
        rest = [t for t in targets if t.runner_id not in outcome]
        if rest:
            outcome.update(self._signal(rest, queues, run))
        return [outcome[t.runner_id] for t in targets]

    def _ps(self, run: CommandExecutor) -> CommandResult:
        return self._run(run, ["ps", "-e", "-o", "pid=,pgid=,stat=,args="])

    def _signal(
        self, targets: Sequence[KillTarget], queues: Dict[str, str], run: CommandExecutor
    ) -> Dict[str, KillOutcome]:
        listing = self._ps(run)
        if not listing.ok:
            failed = listing.describe()
            return {t.runner_id: KillOutcome(t.runner_id, False, failed) for t in targets}
        procs = parse_ps(listing.stdout)
        groups: Dict[str, int] = {}
        outcome: Dict[str, KillOutcome] = {}
        for target in targets:
            group = job_group(procs, target)
            if group is not None:
                groups[target.runner_id] = group
            elif target.runner_id in queues:
                detail = "running, but its process group was not found (wrapper pid unknown)"
                outcome[target.runner_id] = KillOutcome(target.runner_id, False, detail)
            else:
                outcome[target.runner_id] = KillOutcome(target.runner_id, True, "already gone")
        if not groups:
            return outcome
        left = self._kill_groups(sorted(set(groups.values())), "TERM", run)
        deadline = time.monotonic() + self.options.kill_grace
        while left and time.monotonic() < deadline:
            time.sleep(0.2)
            listing = self._ps(run)
            if listing.ok:
                left = live_groups(parse_ps(listing.stdout), left)
        if left:
            self._kill_groups(left, "KILL", run)
        for runner_id, group in groups.items():
            how = "killed (KILL after grace)" if group in left else "terminated (TERM)"
            outcome[runner_id] = KillOutcome(runner_id, True, how)
        return outcome

    def _kill_groups(self, groups: Sequence[int], sig: str, run: CommandExecutor) -> List[int]:
        # a group that vanished before the signal makes kill fail for it: that is fine
        self._run(run, ["kill", "-s", sig, "--", *(f"-{g}" for g in groups)])
        return list(groups)
