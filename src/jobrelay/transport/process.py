"""Start one local process (asyncio, no shell) and collect its output with a timeout."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class ProcessResult:
    returncode: int | None  # None: killed by our timeout, or never started
    stdout: bytes
    stderr: bytes
    timed_out: bool = False
    start_error: str | None = None


async def run_process(
    argv: Sequence[str],
    *,
    stdin: bytes | None,
    timeout: float,
    env: dict[str, str] | None = None,
) -> ProcessResult:
    """Run ``argv``; on timeout kill its whole process group and keep what it printed."""
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
        return ProcessResult(None, b"", b"", start_error=f"{exc.strerror}: {argv[0]!r}")
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
        return ProcessResult(None, out, err, timed_out=True)
    out, err = await _gather_output(out_task, err_task)
    return ProcessResult(proc.returncode, out, err)


async def _feed_and_wait(proc: asyncio.subprocess.Process, stdin: bytes | None) -> None:
    if stdin is not None:
        assert proc.stdin is not None
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # it may not read
            proc.stdin.write(stdin)
            await proc.stdin.drain()
        proc.stdin.close()
    await proc.wait()


async def _reaped(proc: asyncio.subprocess.Process) -> None:
    # asyncio's wait() also waits for the pipes to close, and a process that
    # outlives ours (an ssh ControlMaster serving the killed client's session)
    # holds them: the exit status itself arrives as soon as the kill lands.
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(proc.wait(), 2.0)


async def _gather_output(
    out_task: asyncio.Future[bytes], err_task: asyncio.Future[bytes]
) -> tuple[bytes, bytes]:
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


async def spawn_process(argv: Sequence[str]) -> asyncio.subprocess.Process | None:
    """Start ``argv`` with stdin, stdout and stderr pipes in its own process group."""
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
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)
