"""An agent kept running on a host (``agent --serve``) for a long-running controller.

A one-shot agent call pays an ssh session, a Python start and the agent's
imports (about 30 ms here) before it reads its first status file; for a
scheduler polling every few seconds that is most of a poll. A session pays
them once: requests go down its stdin one line each, and each answer is
read up to its closing line.

Only poll and kill use sessions (repeating them is harmless, so a session
that dies mid-answer is simply replaced by a one-shot call); submit stays
one-shot. One request at a time per session: a call that finds the session
busy goes one-shot.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque

from ..host_dataclasses import dataclass
from ..processes import kill_group

CLOSING_MARK = b'"end":true'  # only the closing line has this key: JSON escapes quotes in values
READ_SIZE = 1 << 18  # bytes asked of the pipe at a time
STDERR_KEPT = 50  # last stderr lines kept for the error of a session that died
CLOSE_GRACE = 2.0  # seconds a session gets to exit after its stdin closes


@dataclass(frozen=True)
class SessionAnswer:
    """What one request to a session got back."""

    stdout: str  # the reply lines, the closing line last when complete
    complete: bool  # the closing line arrived
    timed_out: bool = False
    stderr: str = ""  # the session's recent stderr, when it did not complete


class ServingAgent:
    """One ``agent --serve`` process and the pipes to it."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.busy = False
        # its pipes belong to this event loop: a controller driven by several
        # asyncio.run() calls must not touch them from another one
        self.loop = asyncio.get_running_loop()
        self._stderr: deque[str] = deque(maxlen=STDERR_KEPT)
        self._drain = asyncio.ensure_future(self._read_stderr())
        self._dead = False

    @property
    def usable(self) -> bool:
        """Alive, and reachable from the running event loop."""
        return (
            not self._dead
            and self.proc.returncode is None
            and asyncio.get_running_loop() is self.loop
        )

    def abandon(self) -> None:
        """End it without awaiting anything (its event loop may be gone)."""
        self._dead = True
        kill_group(self.proc.pid)

    async def ask(self, payload: bytes, timeout: float) -> SessionAnswer:
        """Send one request (one line) and read its answer up to the closing line."""
        assert self.proc.stdin is not None and self.proc.stdout is not None
        got = bytearray()  # read in large pieces: a line at a time costs 3 µs a job
        try:
            async with asyncio.timeout(timeout):
                self.proc.stdin.write(payload + b"\n")
                await self.proc.stdin.drain()
                while True:
                    piece = await self.proc.stdout.read(READ_SIZE)
                    if not piece:
                        break  # the session ended
                    got += piece
                    if got.endswith(b"\n") and CLOSING_MARK in _last_line(got):
                        return SessionAnswer(_text(got), complete=True)
        except TimeoutError:
            await self.kill()
            return SessionAnswer(_text(got), False, timed_out=True, stderr=self.stderr())
        except (BrokenPipeError, ConnectionResetError):
            pass  # a pipe gone: this session is done
        except asyncio.CancelledError:
            self._dead = True  # half an answer is still on its way: never reuse it
            kill_group(self.proc.pid)
            raise
        await self.kill()
        return SessionAnswer(_text(got), False, stderr=self.stderr())

    def stderr(self) -> str:
        return "".join(self._stderr).strip()

    async def _read_stderr(self) -> None:
        """Keep reading stderr so that a chatty agent never blocks on a full pipe.

        Cancelled from outside (asyncio.run ending with the session still open),
        it ends the session while its event loop can still clean up the pipes.
        """
        assert self.proc.stderr is not None
        try:
            while True:
                line = await self.proc.stderr.readline()
                if not line:
                    return
                self._stderr.append(line.decode("utf-8", "replace"))
        except asyncio.CancelledError:
            await self._kill_and_reap()
            raise

    async def close(self) -> None:
        """End the session: EOF on its stdin; killed if it does not exit soon."""
        if asyncio.get_running_loop() is not self.loop:
            self.abandon()
            return
        if self.proc.stdin is not None and not self.proc.stdin.is_closing():
            self.proc.stdin.close()
        if self.proc.returncode is None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.proc.wait(), CLOSE_GRACE)
        await self.kill()

    async def kill(self) -> None:
        await self._kill_and_reap()
        self._drain.cancel()

    async def _kill_and_reap(self) -> None:
        self._dead = True
        if self.proc.returncode is None:
            kill_group(self.proc.pid)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.proc.wait(), CLOSE_GRACE)


def _last_line(got: bytearray) -> bytearray:
    """The last complete line of ``got`` (which ends with a newline)."""
    return got[got.rfind(b"\n", 0, len(got) - 1) + 1 :]


def _text(got: bytearray) -> str:
    return got.decode("utf-8", "replace")
