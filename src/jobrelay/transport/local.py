"""The local transport: commands and files on this machine, no ssh, no shell."""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path

from ..processes import run_process, spawn_process
from .base import CommandOutcome, Transport, check_rel_paths


class LocalTransport(Transport):
    """``host`` is only a label here (e.g. "localhost"): everything runs locally."""

    local_files = True

    async def run(
        self, host: str, argv: Sequence[str], *, stdin: bytes | None = None, timeout: float
    ) -> CommandOutcome:
        result = await run_process(argv, stdin=stdin, timeout=timeout)
        stderr = result.stderr
        if result.start_error:
            stderr = f"cannot run: {result.start_error}"
        return CommandOutcome(result.returncode, result.stdout, stderr, result.timed_out, False)

    async def push(
        self,
        host: str,
        local_root: Path,
        rel_paths: Sequence[str],
        remote_root: str,
        *,
        timeout: float,
    ) -> CommandOutcome:
        return await _copy_in_thread(
            Path(local_root), check_rel_paths(rel_paths), local_root_of(remote_root), False
        )

    async def pull(
        self,
        host: str,
        remote_root: str,
        rel_paths: Sequence[str],
        local_root: Path,
        *,
        timeout: float,
    ) -> CommandOutcome:
        return await _copy_in_thread(
            local_root_of(remote_root), check_rel_paths(rel_paths), Path(local_root), True
        )

    async def spawn(self, host: str, argv: Sequence[str]) -> asyncio.subprocess.Process | None:
        return await spawn_process(argv)

    async def close(self) -> None:
        return None


def local_root_of(root: str) -> Path:
    """A run root as seen here: ``~/`` means this user's home."""
    return Path(os.path.expanduser(root))


async def _copy_in_thread(
    src_root: Path, rel_paths: list[str], dst_root: Path, missing_ok: bool
) -> CommandOutcome:
    errors = await asyncio.to_thread(copy_files, src_root, rel_paths, dst_root, missing_ok)
    return CommandOutcome(1 if errors else 0, "", "\n".join(errors), False, False)


def copy_files(
    src_root: Path, rel_paths: Sequence[str], dst_root: Path, missing_ok: bool
) -> list[str]:
    """Copy each file, keeping mode and times; each lands by rename (never half-written).

    Returns one message per file that could not be copied.
    """
    errors = []
    for rel in rel_paths:
        src, dst = src_root / rel, dst_root / rel
        if missing_ok and not os.path.lexists(src):
            continue
        try:
            dst.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=f".{dst.name}.", dir=dst.parent)
            os.close(fd)
            try:
                shutil.copy2(src, tmp)
                os.replace(tmp, dst)
            finally:
                if os.path.exists(tmp):
                    os.unlink(tmp)
        except OSError as exc:
            errors.append(f"{rel}: {exc.strerror or exc}")
    return errors
