"""Run a command, never through a shell: the one place jobrelay starts processes.

``run_command`` waits in the calling thread (the agent, runner commands);
``run_process`` awaits in an event loop (the controller's transports), and
``spawn_process`` starts one to talk to for a while (an agent session). Each
puts the command in its own process group, so that a timeout kills its
children too, and each answers with a ``CommandResult``.

Host-side (the agent runs ``run_command``): standard library only, Python
3.8+; the asynchronous part is the controller's (3.11+) and imports asyncio
only when called.
"""

from __future__ import annotations

import os

from .host_dataclasses import dataclass

TYPE_CHECKING = False  # importing typing costs the agent 4 ms of start: names for mypy only
if TYPE_CHECKING:
    import asyncio
    from typing import Dict, Optional, Protocol, Sequence, Tuple
else:
    Protocol = object  # CommandExecutor is a structural type for mypy only


@dataclass(frozen=True)
class CommandResult:
    argv: Tuple[str, ...]
    returncode: Optional[int]  # None: it did not finish (timed out or could not start)
    stdout: str
    stderr: str
    timed_out: bool = False
    start_error: Optional[str] = None  # e.g. "No such file or directory: 'sbatch'"

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    def describe(self) -> str:
        """One line naming the command and what went wrong."""
        name = " ".join(self.argv[:3])
        if self.start_error:
            return f"{name}: cannot run: {self.start_error}"
        if self.timed_out:
            return f"{name}: timed out"
        err = (self.stderr or self.stdout).strip().replace("\n", " | ")
        return f"{name}: exit {self.returncode}: {err[:300]}"


class CommandExecutor(Protocol):
    def __call__(
        self,
        argv: Sequence[str],
        *,
        stdin: Optional[str] = None,
        cwd: Optional[str] = None,
        timeout: float = 30.0,
    ) -> CommandResult: ...


def run_command(
    argv: Sequence[str],
    *,
    stdin: Optional[str] = None,
    cwd: Optional[str] = None,
    timeout: float = 30.0,
) -> CommandResult:
    """Run ``argv``; on timeout kill its whole process group (hung children too)."""
    # Imported here: the agent's polls of background jobs run no command, and
    # subprocess (threading, locale) is a tenth of the agent's start.
    import subprocess

    args = tuple(argv)
    try:
        proc = subprocess.Popen(
            args,
            stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=cwd,
            start_new_session=True,
        )
    except OSError as exc:
        return CommandResult(args, None, "", "", start_error=f"{exc.strerror}: {args[0]!r}")
    try:
        out, err = proc.communicate(stdin.encode() if stdin is not None else None, timeout=timeout)
    except subprocess.TimeoutExpired:
        kill_group(proc.pid)
        out, err = proc.communicate()
        return CommandResult(args, None, _text(out), _text(err), timed_out=True)
    return CommandResult(args, proc.returncode, _text(out), _text(err))


def _text(data: bytes) -> str:
    return data.decode("utf-8", "replace")


# -- in an event loop (the controller) ------------------------------------------
async def run_process(
    argv: Sequence[str],
    *,
    stdin: Optional[bytes],
    timeout: float,
    env: Optional[Dict[str, str]] = None,
) -> CommandResult:
    """Run ``argv``; on timeout kill its whole process group and keep what it printed."""
    import asyncio

    args = tuple(argv)
    try:
        proc = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            start_new_session=True,  # our own group: a timeout kills children too
            env=env,
        )
    except OSError as exc:
        return CommandResult(args, None, "", "", start_error=f"{exc.strerror}: {args[0]!r}")
    assert proc.stdout is not None and proc.stderr is not None
    out_task = asyncio.ensure_future(proc.stdout.read())
    err_task = asyncio.ensure_future(proc.stderr.read())
    try:
        await asyncio.wait_for(_feed_and_wait(proc, stdin), timeout)
    except (TimeoutError, asyncio.CancelledError) as exc:
        kill_group(proc.pid)
        await _reaped(proc)
        out, err = await _gather_output(out_task, err_task)
        if isinstance(exc, asyncio.CancelledError):
            raise
        return CommandResult(args, None, _text(out), _text(err), timed_out=True)
    out, err = await _gather_output(out_task, err_task)
    return CommandResult(args, proc.returncode, _text(out), _text(err))


async def _feed_and_wait(proc: asyncio.subprocess.Process, stdin: Optional[bytes]) -> None:
    import contextlib  # here, as in _reaped: with asyncio only

    if stdin is not None:
        assert proc.stdin is not None
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # it may not read
            proc.stdin.write(stdin)
            await proc.stdin.drain()
        proc.stdin.close()
    await proc.wait()


async def _reaped(proc: asyncio.subprocess.Process) -> None:
    import asyncio
    import contextlib

    # asyncio's wait() also waits for the pipes to close, and a process that
    # outlives ours (an ssh ControlMaster serving the killed client's session)
    # holds them: the exit status itself arrives as soon as the kill lands.
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(proc.wait(), 2.0)


async def _gather_output(
    out_task: asyncio.Future[bytes], err_task: asyncio.Future[bytes]
) -> Tuple[bytes, bytes]:
    import asyncio

    # A grandchild (e.g. a backgrounded ssh master) may still hold our pipes:
    # do not wait for its EOF for ever once the process we started has ended.
    done, pending = await asyncio.wait({out_task, err_task}, timeout=2.0)
    for task in pending:
        task.cancel()
    out = out_task.result() if out_task in done else b""
    err = err_task.result() if err_task in done else b""
    return out, err


#: longest line a spawned process may write (an agent reply line with many messages)
LINE_LIMIT = 64 * 1024 * 1024


async def spawn_process(argv: Sequence[str]) -> Optional[asyncio.subprocess.Process]:
    """Start ``argv`` with stdin, stdout and stderr pipes in its own process group."""
    import asyncio

    try:
        return await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            start_new_session=True,
            limit=LINE_LIMIT,
        )
    except OSError:
        return None


def kill_group(pid: int) -> None:
    """SIGKILL the process group ``pid`` leads (gone already is fine)."""
    import signal  # here: a one-shot command that kills nothing starts without it

    try:  # noqa: SIM105 (contextlib is one more import for a one-shot command)
        os.killpg(pid, signal.SIGKILL)
    except OSError:  # gone already, or not ours
        pass
