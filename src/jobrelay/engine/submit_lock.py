"""The submit lock of a job dir: held from before its files are written until
its runner id is recorded.

A poll that finds no runner id can tell "still being submitted" (locked)
from "never reached the runner" (free): the lock dies with its holder.

Host-side: standard library only, Python 3.8+.
"""

from __future__ import annotations

import errno
import fcntl
import os

TYPE_CHECKING = False  # importing typing costs the agent 4 ms of start: names for mypy only
if TYPE_CHECKING:
    from typing import Optional

SUBMIT_LOCK = ".job.submit.lock"


class SubmitLock:
    """An exclusive flock on the job dir's lock file, held while submitting.

    A poll that finds no runner id can tell "still being submitted" (locked)
    from "never reached the runner" (free): the lock dies with its holder.
    """

    def __init__(self, job_dir: str) -> None:
        self.path = os.path.join(job_dir, SUBMIT_LOCK)
        self.fd: Optional[int] = None

    def acquire(self) -> bool:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(fd)
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
                return False
            raise
        self.fd = fd
        return True

    def release(self) -> None:
        if self.fd is not None:
            os.close(self.fd)  # closing drops the flock
            self.fd = None


def submit_in_progress(job_dir: str) -> bool:
    """True when some process holds the job's submit lock now."""
    lock = SubmitLock(job_dir)
    try:
        if not os.path.exists(lock.path):
            return False
        if lock.acquire():
            lock.release()
            return False
        return True
    except OSError:
        return False
