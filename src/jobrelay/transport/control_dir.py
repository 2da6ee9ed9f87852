"""A short private directory for ssh ControlMaster sockets.

Unix socket paths must fit in ~104 bytes, and ssh appends a 17-byte random
suffix while creating one, so the directory must be short: under
``$XDG_RUNTIME_DIR`` when that is short enough, else ``/tmp/jr-<uid>``.
Each transport gets its own subdirectory, so ``ssh -O exit`` at close can
never end another process's master connection.
"""

from __future__ import annotations

import os
import stat
import tempfile
from collections.abc import Mapping
from pathlib import Path

SOCKET_PATH_MAX = 104
SSH_TEMP_SUFFIX = 17  # ssh binds "<path>.<16 random chars>" then renames it
HASH_NAME = 40  # %C expands to a 40-hex-digit hash


def make_control_dir(environ: Mapping[str, str] | None = None) -> Path | None:
    """A fresh mode-0700 directory for this transport's sockets, or None if none fits."""
    env = os.environ if environ is None else environ
    bases = []
    if env.get("XDG_RUNTIME_DIR"):
        bases.append(Path(env["XDG_RUNTIME_DIR"]) / "jobrelay")
    bases.append(Path(tempfile.gettempdir()) / f"jr-{os.getuid()}")
    for base in bases:
        if not _private_dir(base):
            continue
        # mkdtemp makes the directory 0700 with a random 8-character name
        path = Path(tempfile.mkdtemp(dir=base, prefix=""))
        if len(str(path)) + 1 + HASH_NAME + SSH_TEMP_SUFFIX < SOCKET_PATH_MAX:
            return path
        path.rmdir()
    return None


def _private_dir(base: Path) -> bool:
    """True if ``base`` exists (or was made) as a directory only we can enter."""
    try:
        base.mkdir(mode=0o700, parents=False, exist_ok=True)
        info = os.lstat(base)
    except OSError:
        return False
    # another user's (or a symlinked) dir in /tmp would let them hijack our sockets
    return (
        stat.S_ISDIR(info.st_mode)
        and info.st_uid == os.getuid()
        and stat.S_IMODE(info.st_mode) & 0o077 == 0
    )
