"""Job dirs under a run root: resolution that never escapes the root.

Host-side: standard library only, Python 3.8+.
"""

from __future__ import annotations

import os

from ..gate.paths import PathRefused, inside_root

TYPE_CHECKING = False  # importing typing costs the agent 4 ms of start: names for mypy only
if TYPE_CHECKING:
    from typing import Dict, List, Optional


class JobDirError(Exception):
    """A job dir argument that is refused (escapes the root, absolute, …)."""


def expand_root(run_root: str) -> str:
    """The run root as an absolute, symlink-free path ("~/x" is the user's home)."""
    return os.path.realpath(os.path.expanduser(run_root))


def check_job_dir_text(rel: str) -> List[str]:
    """The checks that need no filesystem: ``rel``'s parts, or JobDirError.

    Also what the SSH-free controller applies before it lists a job dir for
    rsync (it cannot see the host's symlinks; rsync's --confine-root can).
    """
    if not rel or "\0" in rel or "\n" in rel or "\r" in rel:
        raise JobDirError(f"job dir {rel!r}: empty or contains NUL/newline")
    if rel.startswith("/") or rel.startswith("~"):
        raise JobDirError(f"job dir {rel!r}: must be relative to the run root")
    parts = rel.split("/")
    if any(p in ("", ".", "..") for p in parts):
        raise JobDirError(f"job dir {rel!r}: empty, '.' or '..' component")
    return parts


def resolve_job_dir(root: str, rel: str, parents: Optional[Dict[str, str]] = None) -> str:
    """Absolute path of job dir ``rel`` inside ``root``; refuse anything leading out.

    ``root`` must already be absolute and real (see ``expand_root``). Refused:
    empty, absolute, ``..`` or ``.`` components, NUL/newline, and any existing
    prefix that is a symlink resolving outside the root.

    ``parents`` caches the check of each job's parent dir across a batch: a
    thousand jobs under ``run/jobs`` cost one full resolution and a thousand
    ``lstat`` calls rather than a thousand ``realpath`` walks.
    """
    parts = check_job_dir_text(rel)
    path = os.path.join(root, *parts)
    if parents is not None and len(parts) > 1:
        parent = "/".join(parts[:-1])
        if parent not in parents:
            _confine(root, parent)
            parents[parent] = parent
        if not os.path.islink(path):
            return path  # the parent is inside and the last part is no symlink
    _confine(root, rel)
    return path


def _confine(root: str, rel: str) -> None:
    found = inside_root(root, rel, allow_absolute=False)
    if isinstance(found, PathRefused):
        raise JobDirError(f"job dir {rel!r}: {found.reason}")
