"""A small JSON file under the state dir that this home's processes share.

Read without a lock (every update lands by atomic rename, so a reader sees
the old file or the new one, never half of either); updated under an
exclusive lock on a file beside it, so that no update is lost. An absent or
damaged file reads as empty: these files hold what a controller remembers to
save work (bad hosts, installs), never the truth about a job.

Controller-side.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from pathlib import Path

TYPE_CHECKING = False  # importing typing costs a one-shot command's start: names for mypy only
if TYPE_CHECKING:
    from collections.abc import Iterator
    from typing import Any


class JsonState:
    """``{"version": V, "<key>": {...}}`` in one file; ``read``/``update`` the inner table."""

    def __init__(self, path: Path, key: str, version: int = 1, durable: bool = True) -> None:
        self.path = Path(path)
        self.key = key
        self.version = version
        # False: no fsync, for a file rewritten many times a second whose loss
        # in a crash costs nothing (the polling budget's)
        self.durable = durable

    def read(self) -> dict[str, Any]:
        try:
            data = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return {}
        table = data.get(self.key) if isinstance(data, dict) else None
        return table if isinstance(table, dict) else {}

    @contextlib.contextmanager
    def update(self) -> Iterator[dict[str, Any]]:
        """The table to change in place; written back when the block ends."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path.with_name(self.path.name + ".lock"), "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            table = self.read()
            before = json.dumps(table, sort_keys=True)
            yield table
            if json.dumps(table, sort_keys=True) != before:  # unchanged: nothing to write
                self._write({"version": self.version, self.key: table})

    def _write(self, data: dict[str, Any]) -> None:
        import tempfile  # here: with shutil, bz2 and lzma, a tenth of a `status` start

        fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", dir=self.path.parent)
        try:
            with os.fdopen(fd, "w") as stream:
                json.dump(data, stream, indent=1, sort_keys=True)
                stream.flush()
                if self.durable:
                    os.fsync(stream.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
