"""Confine a path to a root directory (shared by the gate and the agent).

A path is inside the root when, after symlinks are resolved, it is the
root or lies below it. Components that do not exist yet are allowed (a
destination being created); the longest existing prefix is resolved with
``os.path.realpath``, so a symlink anywhere along it that points out is
caught. ``..`` is refused outright, whatever it would resolve to: a
path that needs it is never one jobrelay writes.
"""

from __future__ import annotations

import os

from ..host_dataclasses import dataclass

TYPE_CHECKING = False  # importing typing costs the agent 4 ms of start: names for mypy only
if TYPE_CHECKING:
    from typing import Optional, Union


@dataclass(frozen=True)
class ResolvedPath:
    """A path found inside the root."""

    path: str  # absolute, symlinks resolved
    relative: str  # as given, made relative to the root, not resolved ("." = the root)


@dataclass(frozen=True)
class PathRefused:
    """Why a path was refused."""

    reason: str


def _is_below(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip("/") + "/")


def _resolve_existing_prefix(path: str) -> Optional[str]:
    """realpath of the longest existing prefix, joined with the rest.

    None when the prefix cannot be resolved (a symlink loop: realpath then
    stops at a symlink, and Python 3.8 has no strict mode to say so).
    """
    head, rest = path, ""
    while not os.path.lexists(head):
        parent, leaf = os.path.split(head)
        if parent == head:  # reached "/" without finding anything
            break
        rest = os.path.join(leaf, rest) if rest else leaf
        head = parent
    real = os.path.realpath(head)
    if os.path.islink(real):
        return None
    return os.path.join(real, rest) if rest else real


def inside_root(
    root: str, rel: str, allow_absolute: bool = True
) -> Union[ResolvedPath, PathRefused]:
    """Resolve ``rel`` against ``root``; refuse it if it escapes.

    ``rel`` is relative to ``root``; an absolute ``rel`` is accepted only when
    ``allow_absolute`` and it lies inside the root. The caller expands ``~``.
    """
    if not rel:
        return PathRefused("empty path")
    if "\0" in rel:
        return PathRefused("NUL byte in path")
    if ".." in rel.split("/"):
        return PathRefused(f"'..' in path {rel!r}")
    real_root = os.path.realpath(root)
    if os.path.isabs(rel):
        if not allow_absolute:
            return PathRefused(f"absolute path {rel!r}")
        candidate = os.path.normpath(rel)
        # Compare both the path as given and as the root is spelled, so
        # /home/u/run/x is inside a root given as a symlinked /home/u/run.
        spelled_root = os.path.normpath(os.path.abspath(root))
        if _is_below(candidate, spelled_root):
            lexical = os.path.relpath(candidate, spelled_root)
            candidate = os.path.join(real_root, lexical)
        elif _is_below(candidate, real_root):
            lexical = os.path.relpath(candidate, real_root)
        else:
            return PathRefused(f"absolute path {rel!r} is outside the run root")
    else:
        candidate = os.path.normpath(os.path.join(real_root, rel))
        lexical = os.path.relpath(candidate, real_root)
    resolved = _resolve_existing_prefix(candidate)
    if resolved is None:
        return PathRefused(f"path {rel!r} does not resolve (symlink loop)")
    if not _is_below(resolved, real_root):
        return PathRefused(f"path {rel!r} resolves outside the run root (to {resolved!r})")
    return ResolvedPath(resolved, lexical)
