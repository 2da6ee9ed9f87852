"""Helpers for tests that run real jobs: make a job dir, wait for a condition."""

from __future__ import annotations

import shutil
import time
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Dict, Iterator, Mapping, Optional, Sequence, TypeVar

from jobrelay.jobscript.assemble import JobSpec, assemble, write_job_files
from jobrelay.runners.background import session_members

T = TypeVar("T")


def make_job(
    root: Path,
    script: str,
    *,
    name: str = "a job",
    ref: str = "run1/job1/01",
    env: Optional[Mapping[str, str]] = None,
    header: Sequence[str] = (),
    dirname: str = "job",
) -> Path:
    job_dir = root / dirname
    job_dir.mkdir(parents=True)
    text = assemble(JobSpec(ref, name, str(job_dir), tuple(header), dict(env or {})))
    write_job_files(str(job_dir), text, script)
    return job_dir


def wait_for(check: Callable[[], Optional[T]], what: str, timeout: float = 60.0) -> T:
    """Poll ``check`` until it returns something truthy; generous deadline, not a timing test."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up after {timeout} s waiting for {what}")
        time.sleep(0.05)


def live_session(sid: int) -> Dict[int, str]:
    """pid -> state of the live (non-zombie) processes in session ``sid``."""
    return {p.pid: p.state for p in session_members({sid})[sid]}


def status_lines(job_dir: Path, key: str) -> list[str]:
    text = (job_dir / "job.status").read_bytes().decode("utf-8", "replace")
    return [line for line in text.splitlines() if line.startswith(key + "=")]


@contextmanager
def user_dir(user: str, name: str) -> Iterator[Path]:
    """A fresh dir owned by ``user`` under ``/home/USER/NAME/``, removed afterwards."""
    root = Path(f"/home/{user}/{name}/{uuid.uuid4().hex[:8]}")
    root.mkdir(parents=True)
    shutil.chown(root.parent, user, user)
    shutil.chown(root, user, user)
    try:
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)


def process_alive(pid: int) -> bool:
    """Running and not a zombie (this machine's init reaps orphans slowly)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"
