"""Which user files an install copies: include paths and exclude patterns.

Rules (rsync-like, decided here in Python so one plain file list goes to
rsync and the same rules hold for every transport):
- an include is a path relative to the source dir: a file, a directory
  (everything under it), or a glob (``lib/*.py``);
- an exclude without ``/`` matches any path component (``*.pyc``,
  ``__pycache__``); one with ``/`` matches the path from the source dir
  (``data/big/*``); a trailing ``/`` matches directories only.
- nothing outside the source dir is ever selected (``..``, absolute paths
  and symlinks leading out are refused).
"""

from __future__ import annotations

import fnmatch
import glob
import os
from collections.abc import Sequence
from pathlib import Path


class InstallPathError(ValueError):
    """An include path that is refused or matches nothing."""


def select_files(source: Path, includes: Sequence[str], excludes: Sequence[str]) -> list[str]:
    """Relative paths of the files to install, sorted, without duplicates."""
    root = Path(source).resolve()
    chosen: set[str] = set()
    for include in includes:
        if include.startswith("/") or ".." in Path(include).parts:
            raise InstallPathError(f"install path {include!r}: must be relative, without '..'")
        matches = sorted(glob.glob(include, root_dir=root)) if _is_glob(include) else [include]
        found = [m for m in matches if (root / m).exists()]
        if not found:
            raise InstallPathError(f"install path {include!r}: nothing matches under {root}")
        for match in found:
            chosen.update(_walk(root, match.rstrip("/"), excludes))
    return sorted(chosen)


def _walk(root: Path, rel: str, excludes: Sequence[str]) -> list[str]:
    path = root / rel
    if not path.resolve().is_relative_to(root):
        raise InstallPathError(f"install path {rel!r} leads outside {root}")
    if excluded(rel, path.is_dir(), excludes):
        return []
    if not path.is_dir():
        return [rel]
    out = []
    for dirpath, dirnames, filenames in os.walk(path):
        base = Path(dirpath).relative_to(root).as_posix()
        dirnames[:] = sorted(d for d in dirnames if not excluded(f"{base}/{d}", True, excludes))
        for name in sorted(filenames):
            child = f"{base}/{name}"
            if not excluded(child, False, excludes):
                out.append(child)
    return out


def excluded(rel: str, is_dir: bool, patterns: Sequence[str]) -> bool:
    parts = rel.split("/")
    for pattern in patterns:
        dir_only = pattern.endswith("/")
        pat = pattern.rstrip("/")
        if dir_only and not is_dir:
            continue
        if "/" in pat:
            if fnmatch.fnmatchcase(rel, pat.lstrip("/")):
                return True
        elif fnmatch.fnmatchcase(parts[-1], pat):
            return True
    return False


def _is_glob(text: str) -> bool:
    return any(c in text for c in "*?[")
