"""at: submit with ``at now``, poll with one ``atq``, kill with atrm or signals.

Facts (at 3.2.5, Debian): ``at`` reads the commands on stdin and runs them
with /bin/sh; it prints ``job N at <date>`` on stderr and mails the job's
output unless it is redirected (so it is, into the job dir). ``atq`` lists a
running job in queue ``=`` and forgets it when it ends. ``atrm`` of a running
job leaves it running, and the job starts inside atd's process group (never
signal that group): the commands fed to at therefore ``exec setsid`` the job
script, which makes its pid (the wrapper's, recorded in job.status) the
leader of a session of its own. The wrapper runs the user's script in a
process group of its own inside that session, and the script may make more
(``set -m``): the whole session is the job, and every group in it is what
kill signals.
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
    TERM_ONLY,
    Directives,
    KillOutcome,
    KillTarget,
    PollAnswer,
    Runner,
    RunnerJobInfo,
    RunnerState,
    SubmitOutcome,
    SubmitRequest,
    after_grace,
    check_id,
    grace_within_bound,
    harder_kill_due,
)

TYPE_CHECKING = False  # importing typing costs the agent 4 ms of start: names for mypy only
if TYPE_CHECKING:
    from typing import ClassVar, Dict, FrozenSet, List, Optional, Sequence

SUBMIT_ID = re.compile(r"^job (?P<id>\d+) at ", re.M)
ATQ_LINE = re.compile(r"^(?P<id>\d+)\s+.*\s(?P<queue>\S)\s+\S+\s*$")
ATRM_UNKNOWN = re.compile(r"Cannot find jobid (\d+)")
RUNNING_QUEUE = "="
KILL_SETTLE = 5.0  # seconds a KILLed session may take to be gone


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


PS_FORMAT = "pid=,pgid=,sid=,stat=,args="


@dataclass(frozen=True)
class Proc:
    pid: int
    pgid: int
    sid: int
    stat: str
    args: str


def parse_ps(stdout: str) -> List[Proc]:
    """``ps -e -o pid=,pgid=,sid=,stat=,args=`` lines."""
    procs = []
    for line in stdout.splitlines():
        parts = line.split(None, 4)
        if len(parts) >= 4 and all(p.isdigit() for p in parts[:3]):
            args = parts[4] if len(parts) > 4 else ""
            procs.append(Proc(int(parts[0]), int(parts[1]), int(parts[2]), parts[3], args))
    return procs


def job_group(procs: Sequence[Proc], target: KillTarget) -> Optional[int]:
    """The session (and group) id of the target's job, only if its leader is
    provably that job.

    The leader must lead its own session and run this job's file: a recycled
    pid, or atd's own group, never qualifies.
    """
    job_file = f"{target.job_dir.rstrip('/')}/{keys.JOB_FILE}"
    for proc in procs:
        leads = proc.pid == proc.pgid == proc.sid
        is_job = leads and proc.args.endswith(" " + job_file)
        if is_job and "Z" not in proc.stat and (target.pid is None or target.pid == proc.pid):
            return proc.sid
    return None


def session_groups(procs: Sequence[Proc], sessions: Sequence[int]) -> Dict[int, List[int]]:
    """The live process groups of each session that still has live members."""
    # zombies linger until reaped: they are not alive
    groups: Dict[int, List[int]] = {}
    wanted = set(sessions)
    for proc in procs:
        if (
            proc.sid in wanted
            and "Z" not in proc.stat
            and proc.pgid not in groups.get(proc.sid, [])
        ):
            groups.setdefault(proc.sid, []).append(proc.pgid)
    return groups


class AtRunner(Runner):
    name = "at"
    time_limit_signals: ClassVar[FrozenSet[str]] = frozenset()  # at has no time limits
    host_bound = True  # only the host whose atd queued the job knows it
    kill_verifies_gone = True  # kill() waits until the job's whole session is gone

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
        return self._run(run, ["ps", "-e", "-o", PS_FORMAT])

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
        sessions = sorted(set(groups.values()))
        # the wrapper leads the session: TERM to it, it forwards TERM to the script
        self._kill_groups(sessions, "TERM", run)
        left = self._live(sessions, run)
        deadline = time.monotonic() + grace_within_bound(self.options)
        while left and time.monotonic() < deadline:
            time.sleep(0.2)
            left = self._live(list(left), run)
        still: Dict[int, List[int]] = {}
        if left and harder_kill_due(self.options):
            # every group of the session: the script's, and any it made itself
            self._kill_groups(sorted({g for gs in left.values() for g in gs}), "KILL", run)
            still = self._live(list(left), run)
            deadline = time.monotonic() + KILL_SETTLE
            while still and time.monotonic() < deadline:
                time.sleep(0.2)
                still = self._live(list(still), run)
        for runner_id, sid in groups.items():
            if sid in still:
                detail = f"session {sid} alive after KILL"
                outcome[runner_id] = KillOutcome(runner_id, False, detail)
            elif sid not in left:
                outcome[runner_id] = KillOutcome(runner_id, True, "terminated (TERM)")
            else:
                how = after_grace(self.options) if harder_kill_due(self.options) else TERM_ONLY
                outcome[runner_id] = KillOutcome(runner_id, True, how)
        return outcome

    def _live(self, sessions: Sequence[int], run: CommandExecutor) -> Dict[int, List[int]]:
        """Live groups per session; all of them taken as live when ps fails."""
        listing = self._ps(run)
        if not listing.ok:
            return {s: [s] for s in sessions}
        return session_groups(parse_ps(listing.stdout), sessions)

    def _kill_groups(self, groups: Sequence[int], sig: str, run: CommandExecutor) -> List[int]:
        # a group that vanished before the signal makes kill fail for it: that is fine
        self._run(run, ["kill", "-s", sig, "--", *(f"-{g}" for g in groups)])
        return list(groups)
