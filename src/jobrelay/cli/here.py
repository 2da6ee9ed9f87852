"""Whether a command's jobs can be handled in the command's own process."""

from __future__ import annotations

import argparse
import sys

from ..ledger.records import JobRecord
from ..ledger.store import Ledger
from ..manager.local_poll import polls_here
from ..platforms.config import load_platforms
from ..platforms.model import Platform
from .targets import open_ledger

TYPE_CHECKING = False  # importing typing costs a one-shot command's start: names for mypy only
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from pathlib import Path
    from typing import TypeVar

    Here = Callable[[Ledger, Mapping[str, Platform], list[JobRecord], argparse.Namespace], int]
    T = TypeVar("T")


def work_here(
    args: argparse.Namespace, jobs_of: Callable[[Ledger], list[JobRecord]], here: Here
) -> int | None:
    """``here``'s exit code, having done the command in this process, when
    every job ``jobs_of`` names is on a local platform; None when the
    controller must do it (nothing done)."""
    ledger = open_ledger()
    try:
        jobs = jobs_of(ledger)
        platforms = local_platforms(args.config, jobs)
        return None if platforms is None else here(ledger, platforms, jobs, args)
    finally:
        ledger.close()


def local_platforms(
    config: Path | str | None, jobs: list[JobRecord]
) -> Mapping[str, Platform] | None:
    """The configured platforms when each of ``jobs`` is on a local one (its
    files on this machine: the engine can run here); None when any job is
    reached over SSH or SSH-free, or its platform left the config (the
    controller then does the work, and words that job's error)."""
    platforms = load_platforms(config)
    for job in jobs:
        platform = platforms.get(job.platform)
        if platform is None or not polls_here(platform):
            return None
    return platforms


def with_bar(label: str, total: int, work: Callable[[Callable[[int], None] | None], T]) -> T:
    """``work``'s result, given a bar's ``advance`` on a terminal (rich, and
    asyncio with it, imported only then), else None."""
    if total and sys.stderr.isatty():
        from .progress import Bar

        with Bar(label, total) as bar:
            return work(bar.advance)
    return work(None)
