"""Start many processes detached: each in its own session, none our child.

One launcher process, forked twice so that it belongs to init (or a
subreaper) and not to the caller's process tree, starts every job of a
batch with ``posix_spawn`` (vfork-fast, no Python in the job), reads each
job's start time while the job is still its child (so it cannot have been
reaped), and reports ``pid:starttime`` per job on a pipe. Then the launcher
exits and the jobs pass to init (or the subreaper): a long-lived caller
never collects zombies, and the caller pays for two forks per batch, not
one per job.

Linux only (/proc). Host-side: standard library only, Python 3.8+.
"""

from __future__ import annotations

import os

from ..host_dataclasses import dataclass
from .proc_stat import read_proc_stat

TYPE_CHECKING = False  # importing typing costs the agent 4 ms of start: names for mypy only
if TYPE_CHECKING:
    from typing import List, Optional, Sequence

_LOG_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_APPEND


@dataclass(frozen=True)
class Launch:
    argv: Sequence[str]  # argv[0] is looked up in PATH when not absolute
    cwd: str
    stdout: str  # file appended to
    stderr: str


@dataclass(frozen=True)
class Launched:
    runner_id: Optional[str]  # "pid:starttime"
    error: Optional[str] = None


def launch_detached(launches: Sequence[Launch]) -> List[Launched]:
    """Start each launch; one result per launch, in order."""
    if not launches:
        return []
    read_end, write_end = os.pipe()
    try:
        launcher = os.fork()
    except OSError as exc:
        os.close(read_end)
        os.close(write_end)
        return [Launched(None, f"cannot fork: {exc.strerror}") for _ in launches]
    if launcher == 0:  # pragma: no cover - forked; never returns
        os.close(read_end)
        # Fork again and let the middle process exit at once: the launcher, and
        # so every job it starts, is then init's (or a subreaper's) from the
        # start, never in the agent's process tree, which dies with the ssh
        # session (a tree kill of the session must not take the jobs).
        try:
            if os.fork() == 0:
                _launcher(launches, write_end)
        finally:
            os._exit(0)
    os.close(write_end)
    try:
        report = _read_all(read_end).decode("utf-8", errors="replace")
    finally:
        os.close(read_end)
        os.waitpid(launcher, 0)
    results = [Launched(None, "the launcher ended before starting this job")] * len(launches)
    for line in report.splitlines():
        index, kind, text = [*line.split("\t", 2), "", ""][:3]
        if index.isdigit() and int(index) < len(launches):
            ok = kind == "ok"
            results[int(index)] = Launched(text if ok else None, None if ok else text)
    return results


def _launcher(launches: Sequence[Launch], report: int) -> None:  # pragma: no cover - forked
    import signal  # here, in the forked launcher: a poll never needs it

    try:
        # Python ignores SIGPIPE and SIGXFSZ; a spawned program would inherit that.
        defaults = [s for s in (signal.SIGPIPE, getattr(signal, "SIGXFSZ", None)) if s]
        for index, launch in enumerate(launches):
            try:
                line = f"{index}\tok\t{_spawn(launch, defaults)}"
            except OSError as exc:
                line = f"{index}\terror\tcannot start {launch.argv[0]}: {exc}"
            os.write(report, (line.replace("\n", " ") + "\n").encode("utf-8", "replace"))
    finally:
        os._exit(0)


def _spawn(launch: Launch, defaults: Sequence[int]) -> str:  # pragma: no cover
    os.chdir(launch.cwd)  # the launcher's own cwd: posix_spawn has no chdir action
    actions = [
        (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
        (os.POSIX_SPAWN_OPEN, 1, launch.stdout, _LOG_FLAGS, 0o644),
        (os.POSIX_SPAWN_OPEN, 2, launch.stderr, _LOG_FLAGS, 0o644),
    ]
    pid = os.posix_spawnp(
        launch.argv[0],
        list(launch.argv),
        os.environ,
        file_actions=actions,
        setsid=True,  # the job leads its own session: its pid is its session id
        setsigdef=defaults,
    )
    stat = read_proc_stat(pid)
    return f"{pid}:{stat.starttime if stat is not None else 0}"


def _read_all(fd: int) -> bytes:
    chunks: List[bytes] = []
    while True:
        chunk = os.read(fd, 65536)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)
