"""The background runner: the job runs as a detached process on the job host.

Its id is ``"<pid>:<starttime>"``: the wrapper's pid and its start time in
clock ticks since boot (field 22 of /proc/<pid>/stat). pids wrap (pid_max
may be 32768), the pair does not. The job runs as the leader of its own
session; the user's script runs in its own process group inside that
session, so "every process of the job" is "every process of the session".

Linux only (/proc). Host-side: standard library only, Python 3.8+.
"""

from __future__ import annotations

import os
import time

from ..processes import CommandExecutor
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
    grace_within_bound,
    harder_kill_due,
)
from .detach import Launch, launch_detached
from .proc_stat import ProcStat, read_proc_stat

TYPE_CHECKING = False  # importing typing costs the agent 4 ms of start: names for mypy only
if TYPE_CHECKING:
    from typing import Dict, List, Optional, Sequence, Set, Tuple

BASH = "/bin/bash"
#: after KILL, how long to wait for the kernel to take the processes down
KILL_SETTLE = 5.0
_POLL_STEP = 0.05
# A TERMed job is usually gone within milliseconds (its wrapper records the
# end and exits): the first looks come sooner, then every _POLL_STEP, so a
# kill returns soon without scanning /proc (every process's stat) often.
_FIRST_STEP = 0.005
BAD_ID = "not a background runner id (pid:starttime)"


def parse_id(runner_id: str) -> Optional[Tuple[int, int]]:
    pid_text, sep, start_text = runner_id.partition(":")
    if not (sep and pid_text.isdigit() and start_text.isdigit()):
        return None
    return int(pid_text), int(start_text)


def is_alive(pid: int, starttime: int) -> bool:
    """The process started at ``starttime`` still runs (a zombie has ended)."""
    stat = read_proc_stat(pid)
    return stat is not None and stat.starttime == starttime and stat.state != "Z"


def session_members(sessions: Set[int]) -> Dict[int, List[ProcStat]]:
    """Live (non-zombie) processes of each session in ``sessions``, one /proc scan."""
    found: Dict[int, List[ProcStat]] = {sid: [] for sid in sessions}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        stat = read_proc_stat(int(entry))
        if stat is not None and stat.session in found and stat.state != "Z":
            found[stat.session].append(stat)
    return found


class BackgroundRunner(Runner):
    name = "background"
    kill_verifies_gone = True  # kill() waits until the whole session is gone
    host_bound = True  # pids are only meaningful on the host that started the job

    def header_lines(self, directives: Directives, job_dir: str) -> List[str]:
        # The wrapper enforces the time limit itself; other resources mean nothing here.
        lines = []
        if directives.time_limit is not None:
            lines.append(f"export JOBRELAY_TIME_LIMIT={int(directives.time_limit)}")
        lines.extend(directives.raw)
        return lines

    # -- submit --------------------------------------------------------
    def submit(self, jobs: Sequence[SubmitRequest], run: CommandExecutor) -> List[SubmitOutcome]:
        # ``run`` is not used: jobs start by posix_spawn from one launcher, not a command.
        launches = [
            Launch(
                argv=(*self.options.command_prefix, BASH, job.job_file),
                cwd=job.job_dir,
                stdout=os.path.join(job.job_dir, keys.OUT_FILE),
                stderr=os.path.join(job.job_dir, keys.ERR_FILE),
            )
            for job in jobs
        ]
        return [SubmitOutcome(r.runner_id, r.error) for r in launch_detached(launches)]

    # -- poll ----------------------------------------------------------
    def poll(self, ids: Sequence[str], run: CommandExecutor) -> PollAnswer:
        jobs: Dict[str, RunnerJobInfo] = {}
        for runner_id in ids:
            parsed = parse_id(runner_id)
            if parsed is None:
                jobs[runner_id] = RunnerJobInfo(runner_id, RunnerState.GONE, reason=BAD_ID)
            elif is_alive(*parsed):
                jobs[runner_id] = RunnerJobInfo(runner_id, RunnerState.RUNNING)
            else:
                jobs[runner_id] = RunnerJobInfo(runner_id, RunnerState.GONE)
        return PollAnswer(jobs=jobs)

    # -- kill ----------------------------------------------------------
    def kill(self, targets: Sequence[KillTarget], run: CommandExecutor) -> List[KillOutcome]:
        if not targets:
            return []
        import signal  # here: a poll (a one-shot `status`) never signals

        sessions: Dict[str, int] = {}  # runner id -> session id, for jobs that may live
        outcomes: Dict[str, KillOutcome] = {}
        for target in targets:
            parsed = parse_id(target.runner_id)
            if parsed is None:
                outcomes[target.runner_id] = KillOutcome(
                    target.runner_id, False, "not a pid:starttime id"
                )
                continue
            pid, starttime = parsed
            stat = read_proc_stat(pid)
            if stat is not None and stat.starttime != starttime:
                # The pid was reused: a pid is not reused while any process still
                # has it as its session id, so nothing of our job is left.
                outcomes[target.runner_id] = KillOutcome(target.runner_id, True, "already gone")
                continue
            sessions[target.runner_id] = pid
        live = session_members(set(sessions.values()))
        for runner_id, sid in sessions.items():
            members = live[sid]
            if not members:
                outcomes[runner_id] = KillOutcome(runner_id, True, "already gone")
            elif any(m.pid == sid for m in members):
                # The wrapper lives: it forwards TERM to the script and records the exit.
                _signal_group(sid, signal.SIGTERM)
            else:
                for group in {m.pgrp for m in members}:
                    _signal_group(group, signal.SIGTERM)
        pending = {rid: sid for rid, sid in sessions.items() if rid not in outcomes}
        left = _wait_gone(pending, grace_within_bound(self.options))
        for runner_id in pending:
            if runner_id not in left:
                outcomes[runner_id] = KillOutcome(runner_id, True, "terminated")
            elif not harder_kill_due(self.options):
                outcomes[runner_id] = KillOutcome(runner_id, True, TERM_ONLY)
        if left and harder_kill_due(self.options):
            for runner_id, members in left.items():
                # The wrapper's group first: killed before its script, it cannot
                # record the script's KILL as the end of a TERM it forwarded.
                sid = pending[runner_id]
                for group in sorted({m.pgrp for m in members}, key=lambda g: g != sid):
                    _signal_group(group, signal.SIGKILL)
            still = _wait_gone({rid: pending[rid] for rid in left}, KILL_SETTLE)
            for runner_id in left:
                if runner_id in still:
                    pids = ", ".join(str(m.pid) for m in still[runner_id])
                    outcomes[runner_id] = KillOutcome(runner_id, False, f"alive after KILL: {pids}")
                else:
                    outcomes[runner_id] = KillOutcome(runner_id, True, after_grace(self.options))
        return [outcomes[t.runner_id] for t in targets]


def _wait_gone(pending: Dict[str, int], timeout: float) -> Dict[str, List[ProcStat]]:
    """Wait until each job's session is empty; return those still holding processes.

    A scan of /proc reads every process's stat (thousands on a login node):
    while a process last seen in a job's session still lives, the job is not
    gone and only those few are read again. Emptiness, and the answer at the
    deadline, always come from a whole scan, which also finds what the job
    forked meanwhile."""
    deadline = time.monotonic() + timeout
    step = _FIRST_STEP
    known: Dict[str, List[ProcStat]] = {}
    while True:
        out_of_time = time.monotonic() >= deadline
        if out_of_time or not any(_lives(m) for members in known.values() for m in members):
            live = session_members(set(pending.values()))
            known = {rid: live[sid] for rid, sid in pending.items() if live[sid]}
            if not known or out_of_time:
                return known
        time.sleep(step)
        step = min(_POLL_STEP, step * 2)


def _lives(seen: ProcStat) -> bool:
    """``seen`` is still that process, in its session, and not a zombie."""
    now = read_proc_stat(seen.pid)
    return (
        now is not None
        and now.starttime == seen.starttime
        and now.session == seen.session
        and now.state != "Z"
    )


def _signal_group(pgrp: int, sig: int) -> None:
    try:  # noqa: SIM105 (contextlib is one more import for a one-shot `status`)
        os.killpg(pgrp, sig)
    except ProcessLookupError:  # ended meanwhile
        pass
