"""The SSH-free transport: runner commands run here, files move by rsync only.

The job host's filesystem is not visible locally and its key may allow
nothing but rsync (e.g. ``rrsync``), so ``run`` never uses ssh.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from .base import CommandOutcome, Transport
from .local import LocalTransport
from .ssh import SshTransport


class SshFreeTransport(Transport):
    runs_agent = False

    def __init__(self, files: SshTransport) -> None:
        self._commands = LocalTransport()
        self._files = files

    async def run(
        self, host: str, argv: Sequence[str], *, stdin: bytes | None = None, timeout: float
    ) -> CommandOutcome:
        return await self._commands.run(host, argv, stdin=stdin, timeout=timeout)

    async def push(
        self,
        host: str,
        local_root: Path,
        rel_paths: Sequence[str],
        remote_root: str,
        *,
        timeout: float,
    ) -> CommandOutcome:
        return await self._files.push(host, local_root, rel_paths, remote_root, timeout=timeout)

    async def pull(
        self,
        host: str,
        remote_root: str,
        rel_paths: Sequence[str],
        local_root: Path,
        *,
        timeout: float,
    ) -> CommandOutcome:
        return await self._files.pull(host, remote_root, rel_paths, local_root, timeout=timeout)

    async def close(self) -> None:
        await self._files.close()
