"""The transport interface: run a command on a host, move files to and from it."""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from collections.abc import Sequence
from pathlib import Path, PurePosixPath

from ..host_dataclasses import dataclass


@dataclass(frozen=True)
class CommandOutcome:
    returncode: int | None  # None: it did not finish (timed out, or could not start)
    stdout: str
    stderr: str
    timed_out: bool = False
    unreachable: bool = False  # ssh exit 255, or a timeout before any output arrived
    # ssh's own word that it never reached the host (connect, resolve) or could
    # not start: nothing ran there. An unreachable call without it may have
    # run its command before the connection dropped.
    never_connected: bool = False

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    def describe(self) -> str:
        """One line saying what went wrong, for logs and error messages."""
        if self.unreachable:
            kind = "unreachable"
        elif self.timed_out:
            kind = "timed out"
        else:
            kind = f"exit {self.returncode}"
        # ssh ends its lines with CR LF when it has a terminal: no CR in one-line messages
        detail = self.stderr.replace("\r", "").strip().replace("\n", " | ")
        return f"{kind}: {detail[:300]}" if detail else kind


class Transport(ABC):
    """How the controller reaches a job host. One instance serves many hosts."""

    #: the job host's files are this machine's own: the agent runs from the
    #: controller's build and nothing needs installing
    local_files: bool = False
    #: commands run on the job host, so the agent can (False: SSH-free, where
    #: the host allows rsync only and the controller runs the engine itself)
    runs_agent: bool = True

    @abstractmethod
    async def run(
        self, host: str, argv: Sequence[str], *, stdin: bytes | None = None, timeout: float
    ) -> CommandOutcome:
        """Run ``argv`` on ``host`` (no shell on our side; see ssh.py for the remote one)."""

    @abstractmethod
    async def push(
        self,
        host: str,
        local_root: Path,
        rel_paths: Sequence[str],
        remote_root: str,
        *,
        timeout: float,
    ) -> CommandOutcome:
        """Copy ``local_root/P`` to ``remote_root/P`` for each P, in one transfer.

        Parent directories under ``remote_root`` are created. A missing local
        file is an error (the others are still copied).
        """

    @abstractmethod
    async def pull(
        self,
        host: str,
        remote_root: str,
        rel_paths: Sequence[str],
        local_root: Path,
        *,
        timeout: float,
    ) -> CommandOutcome:
        """Copy ``remote_root/P`` to ``local_root/P`` for each P, in one transfer.

        A file missing on the host is not an error (the caller sees which ones
        arrived); the others are still copied.
        """

    async def spawn(self, host: str, argv: Sequence[str]) -> asyncio.subprocess.Process | None:
        """Start ``argv`` on ``host`` with pipes to talk to it for a while (an agent
        session); None where this transport offers no such thing. The process
        has its own process group: killing the group ends what we started."""
        return None

    @abstractmethod
    async def close(self) -> None:
        """Release connections; safe to call twice."""


class BadRelativePath(ValueError):
    """A path given to push/pull that could leave its root."""


def check_rel_paths(rel_paths: Sequence[str]) -> list[str]:
    """Reject absolute paths, '..' parts and newlines: paths stay inside their root."""
    checked = []
    for rel in rel_paths:
        parts = PurePosixPath(rel).parts
        if (
            not rel
            or rel.startswith("/")
            or ".." in parts
            or any(c in rel for c in "\0\n\r")
            or not parts
        ):
            raise BadRelativePath(f"not a plain relative path: {rel!r}")
        checked.append(rel)
    return checked
