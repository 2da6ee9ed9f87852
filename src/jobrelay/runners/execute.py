"""Run one command with a timeout, never through a shell.

Host-side: standard library only, Python 3.8+.
"""

from __future__ import annotations

import contextlib
import os
import signal

from ..records import dataclass

TYPE_CHECKING = False  # importing typing costs the agent 4 ms of start: names for mypy only
if TYPE_CHECKING:
    from typing import Optional, Protocol, Sequence, Tuple
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
        with contextlib.suppress(OSError):  # already gone
            os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        return CommandResult(args, None, _text(out), _text(err), timed_out=True)
    return CommandResult(args, proc.returncode, _text(out), _text(err))


def _text(data: bytes) -> str:
    return data.decode("utf-8", "replace")
