"""rsync command lines: many files per call, over the platform's own ssh command.

Choices, and why:
- ``--files-from=- --from0``: the list goes on stdin, so one rsync moves any
  number of files (no argument-length limit, any byte in names but NUL).
- ``--checksum``: rsync's quick check (size + mtime to the second) skips a
  changed file of the same size written in the same second; our files are
  small, so reading them to compare costs little and never misses a change.
- no ``--delay-updates``: rsync already writes each file to a temporary name
  and renames it into place, so no reader sees half a file; the agent only
  reads after the whole rsync has returned, so cross-file atomicity buys
  nothing, and an interrupted delayed transfer leaves ``.~tmp~`` dirs behind.
- ``-lpt`` (links, permissions, times), not ``-a``: owner and group are
  meaningless between two accounts, devices never travel.
- pull adds ``--ignore-missing-args``: a job that has not written its output
  yet must not fail the pull of the others.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from .quoting import rsync_shell_option

BASE_OPTIONS = ("-lpt", "--checksum", "--files-from=-", "--from0")


def rsync_remote_path(remote_root: str) -> str:
    """rsync's form of a run root: ``~/x`` becomes ``x`` (rsync starts in the home dir)."""
    if remote_root == "~":
        return "."
    if remote_root.startswith("~/"):
        return remote_root[2:] or "."
    return remote_root


def push_argv(
    rsync_command: Sequence[str],
    ssh_argv: Sequence[str],
    host: str,
    local_root: Path,
    remote_root: str,
) -> list[str]:
    remote = f"{host}:{rsync_remote_path(remote_root).rstrip('/')}/"
    shell = rsync_shell_option(ssh_argv)
    return [*rsync_command, *BASE_OPTIONS, "-e", shell, f"{local_root}/", remote]


def pull_argv(
    rsync_command: Sequence[str],
    ssh_argv: Sequence[str],
    host: str,
    remote_root: str,
    local_root: Path,
) -> list[str]:
    remote = f"{host}:{rsync_remote_path(remote_root).rstrip('/')}/"
    return [
        *rsync_command,
        *BASE_OPTIONS,
        "--ignore-missing-args",
        "-e",
        rsync_shell_option(ssh_argv),
        remote,
        f"{local_root}/",
    ]


def files_from(rel_paths: Sequence[str]) -> bytes:
    """The ``--from0`` list for stdin."""
    return b"".join(path.encode() + b"\0" for path in rel_paths)
