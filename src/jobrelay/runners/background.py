"""The background runner: the job runs as a detached process on the job host.

Its id is ``"<pid>:<starttime>"``: the wrapper's pid and its start time in
clock ticks since boot (field 22 of /proc/<pid>/stat). pids wrap (pid_max
may be 32768), the pair does not. The job runs as the leader of its own
session; the user's script runs in its own process group inside that
session, so "every process of the job" is "every process of the session".

Linux only (/proc). Host-side: standard library only, Python 3.8+.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Set, Tuple

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
)
from .execute import CommandExecutor

BASH = "/bin/bash"
#: after KILL, how long to wait for the kernel to take the processes down
KILL_SETTLE = 5.0
_POLL_STEP = 0.05
BAD_ID = "not a background runner id (pid:starttime)"


@dataclass(frozen=True)
class ProcStat:
    pid: int
    state: str  # "R", "S", "Z", …
    pgrp: int
    session: int
    starttime: int


def read_proc_stat(pid: int) -> Optional[ProcStat]:
    """Fields of /proc/<pid>/stat; None when there is no such process."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            data = handle.read()
    except OSError:
        return None
    # comm (field 2) is in parentheses and may hold spaces and parentheses.
    rest = data[data.rfind(b")") + 2 :].split()
    try:  # rest[0] is field 3
        return ProcStat(pid, rest[0].decode(), int(rest[2]), int(rest[3]), int(rest[19]))
    except (IndexError, ValueError):
        return None


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
        # ``run`` is not used: the job is started by a fork here, not by a command.
        return [self._start(job) for job in jobs]

    def _start(self, job: SubmitRequest) -> SubmitOutcome:
        argv = [*self.options.command_prefix, BASH, job.job_file]
        try:
            stdin = os.open(os.devnull, os.O_RDONLY)
            try:
                out = _open_log(os.path.join(job.job_dir, keys.OUT_FILE))
                try:
                    err = _open_log(os.path.join(job.job_dir, keys.ERR_FILE))
                    try:
                        return _spawn_detached(argv, job.job_dir, stdin, out, err)
                    finally:
                        os.close(err)
                finally:
                    os.close(out)
            finally:
                os.close(stdin)
        except OSError as exc:
            return SubmitOutcome(None, f"cannot start {job.job_file}: {exc}")

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
        left = _wait_gone(pending, self.options.kill_grace)
        for runner_id in pending:
            if runner_id not in left:
                outcomes[runner_id] = KillOutcome(runner_id, True, "terminated")
        if left:
            for members in left.values():
                for group in {m.pgrp for m in members}:
                    _signal_group(group, signal.SIGKILL)
            still = _wait_gone({rid: pending[rid] for rid in left}, KILL_SETTLE)
            for runner_id in left:
                if runner_id in still:
                    pids = ", ".join(str(m.pid) for m in still[runner_id])
                    outcomes[runner_id] = KillOutcome(runner_id, False, f"alive after KILL: {pids}")
                else:
                    outcomes[runner_id] = KillOutcome(runner_id, True, "killed after grace")
        return [outcomes[t.runner_id] for t in targets]


def _wait_gone(pending: Dict[str, int], timeout: float) -> Dict[str, List[ProcStat]]:
    """Wait until each job's session is empty; return those still holding processes."""
    deadline = time.monotonic() + timeout
    while True:
        live = session_members(set(pending.values()))
        left = {rid: live[sid] for rid, sid in pending.items() if live[sid]}
        if not left or time.monotonic() >= deadline:
            return left
        time.sleep(_POLL_STEP)


def _signal_group(pgrp: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):  # ended meanwhile
        os.killpg(pgrp, sig)


def _open_log(path: str) -> int:
    return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)


def _spawn_detached(argv: List[str], cwd: str, stdin: int, out: int, err: int) -> SubmitOutcome:
    """Start ``argv`` as a grandchild in a new session; return its id.

    The double fork makes init (or a subreaper) the job's parent, so it never
    becomes a zombie of a long-lived agent. The middle process reads the
    job's start time while the job is still its child (so it cannot have
    been reaped yet) and reports "pid:starttime" on a pipe; the job reports
    an exec failure on a close-on-exec pipe.
    """
    id_read, id_write = os.pipe()
    exec_read, exec_write = os.pipe()
    try:
        middle = os.fork()
        if middle == 0:  # pragma: no cover - runs in the forked child
            _middle_process(argv, cwd, stdin, out, err, id_write, exec_write)
        os.close(id_write)
        os.close(exec_write)
        id_write = exec_write = -1
        os.waitpid(middle, 0)
        runner_id = _read_all(id_read).decode()
        exec_error = _read_all(exec_read).decode()
    finally:
        for fd in (id_read, exec_read, id_write, exec_write):
            if fd >= 0:
                os.close(fd)
    if exec_error:
        return SubmitOutcome(None, f"cannot run {argv[0]}: {exec_error}")
    if not runner_id:
        return SubmitOutcome(None, "the job process did not start (fork failed)")
    return SubmitOutcome(runner_id)


def _middle_process(
    argv: List[str], cwd: str, stdin: int, out: int, err: int, id_write: int, exec_write: int
) -> None:  # pragma: no cover - runs in the forked child
    try:
        pid = os.fork()
        if pid == 0:
            _job_process(argv, cwd, stdin, out, err, exec_write)
        stat = read_proc_stat(pid)
        starttime = stat.starttime if stat else 0
        os.write(id_write, f"{pid}:{starttime}".encode())
    finally:
        os._exit(0)


def _job_process(
    argv: List[str], cwd: str, stdin: int, out: int, err: int, exec_write: int
) -> None:  # pragma: no cover
    try:
        os.setsid()  # the job leads its own session: its pid is its session id
        os.chdir(cwd)
        os.dup2(stdin, 0)
        os.dup2(out, 1)
        os.dup2(err, 2)
        # Python ignores SIGPIPE and SIGXFSZ; exec keeps "ignored", so undo it.
        for name in ("SIGPIPE", "SIGXFSZ"):
            if hasattr(signal, name):
                signal.signal(getattr(signal, name), signal.SIG_DFL)
        os.set_inheritable(exec_write, False)
        program = argv[0] if os.path.isabs(argv[0]) else _which(argv[0])
        os.execv(program, argv)  # noqa: S606 - a fixed argv, no shell
    except BaseException as exc:
        try:
            os.write(exec_write, str(exc).encode(errors="replace"))
        finally:
            os._exit(127)


def _which(program: str) -> str:
    for folder in os.environ.get("PATH", "/usr/bin:/bin").split(os.pathsep):
        candidate = os.path.join(folder, program)
        if os.access(candidate, os.X_OK):
            return candidate
    return program


def _read_all(fd: int) -> bytes:
    chunks: List[bytes] = []
    while True:
        chunk = os.read(fd, 4096)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)
