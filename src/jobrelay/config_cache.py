"""The parsed platforms file (platforms/config.py), kept between one-shot commands.

Importing ``tomllib`` (with ``typing`` and ``string``) is about 7 ms of an
ecFlow task's `jobrelay status`, more than the rest of its config handling.
The CLI (``command.py``) turns this cache on: the TOML document of the last
file read is kept in ``$JOBRELAY_HOME/config-cache`` (``marshal``: built in,
nothing to import) with the file's identity (device, inode, size, mtime),
and used while the file is unchanged. Library users parse every time.

A file changed within the same clock tick as the cached read would look
unchanged by its mtime: a file modified less than ``SETTLE`` seconds ago is
not cached (git's "racy" rule), so a later change always moves the mtime.
A document ``marshal`` cannot hold (TOML dates) is not cached either.
"""

from __future__ import annotations

import marshal
import os
import sys
import time

TYPE_CHECKING = False  # importing typing costs a one-shot command's start: names for mypy only
if TYPE_CHECKING:
    from typing import Any

SETTLE = 2.0  # seconds: far above any file system's mtime resolution
CACHE_FILE = "config-cache"
_dir: str | None = None  # None: no cache (the library's default)


def use(state_dir: str) -> None:
    """Keep the cache in ``state_dir`` (the CLI's; created on first write)."""
    global _dir
    _dir = state_dir


def _identity(path: str) -> tuple[Any, ...] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (os.path.abspath(path), st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, sys.version)


def cached(path: str) -> dict[str, Any] | None:
    """The document cached for ``path`` as it is now; None when there is none."""
    if _dir is None:
        return None
    try:
        with open(os.path.join(_dir, CACHE_FILE), "rb") as stream:
            # the user's own state dir, trusted as the ledger beside it is
            identity, document = marshal.load(stream)  # noqa: S302
    except (OSError, ValueError, EOFError, TypeError):
        return None
    if identity != _identity(path) or not isinstance(document, dict):
        return None
    return document


def keep(path: str, document: dict[str, Any]) -> None:
    """Cache ``document`` as ``path``'s if the file has settled; never fails."""
    identity = _identity(path)
    if _dir is None or identity is None or time.time() - identity[4] / 1e9 < SETTLE:
        return
    try:
        data = marshal.dumps((identity, document))
    except ValueError:  # a TOML date, time or datetime
        return
    target = os.path.join(_dir, CACHE_FILE)
    tmp = f"{target}.tmp{os.getpid()}"
    try:
        os.makedirs(_dir, exist_ok=True)
        with open(tmp, "wb") as stream:
            stream.write(data)
        os.replace(tmp, target)  # whole or not at all: commands run at once
    except OSError:
        import contextlib

        with contextlib.suppress(OSError):
            os.unlink(tmp)
