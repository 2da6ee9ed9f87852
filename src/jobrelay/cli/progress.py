"""Progress of long operations, on stderr so that stdout (``--json``) stays clean.

The jobs' references are said first, whatever happens next; a bar (rich,
imported only when one is drawn) moves on a terminal: its spinner and clock
turn even while no job changes, its count follows the jobs to their end.
Ctrl-C says which jobs are still not final: they keep running.
"""

from __future__ import annotations

import shlex
import sys
from asyncio import CancelledError
from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from ..ledger.records import JobRecord
from .exits import refs_text, say


class Bar:
    """A bar for ``total`` steps; nothing drawn when stderr is not a terminal."""

    def __init__(self, label: str, total: int) -> None:
        self.label = label
        self.total = total
        self._progress: Any = None
        self._task: Any = None

    def __enter__(self) -> Bar:
        if sys.stderr.isatty():
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                SpinnerColumn,
                TextColumn,
                TimeElapsedColumn,
            )

            self._progress = Progress(
                SpinnerColumn(),
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[detail]}"),
                TimeElapsedColumn(),
                console=Console(stderr=True),
                transient=True,
            )
            self._progress.start()
            self._task = self._progress.add_task(self.label, total=self.total, detail="")
        return self

    def advance(self, n: int = 1) -> None:
        if self._progress is not None:
            self._progress.advance(self._task, n)

    def set(self, done: int, detail: str = "") -> None:
        if self._progress is not None:
            self._progress.update(self._task, completed=done, detail=detail)

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.stop()


class Waiting:
    """Jobs being waited on: said up front, counted as they end, named on Ctrl-C."""

    def __init__(self, jobs: Iterable[JobRecord], label: str = "wait") -> None:
        self.jobs = {j.id: j for j in jobs}
        self.bar = Bar(label, len(self.jobs))

    def seen(self, polled: Iterable[JobRecord]) -> None:
        self.jobs.update((j.id, j) for j in polled)
        counts = Counter(j.state.value for j in self.jobs.values())
        detail = " ".join(f"{state} {n}" for state, n in sorted(counts.items()))
        self.bar.set(sum(j.state.is_final for j in self.jobs.values()), detail)

    def not_final(self) -> list[JobRecord]:
        return [j for j in self.jobs.values() if not j.state.is_final]

    @contextmanager
    def shown(self) -> Iterator[Waiting]:
        live = self.not_final()
        if live:
            say(f"waiting for {len(live)} job(s): {refs_text(live)}")
        try:
            with self.bar:
                self.seen([])
                yield self
        except (KeyboardInterrupt, CancelledError):  # Ctrl-C cancels the waiting task
            left = self.not_final()
            if left:
                say(f"stopped waiting; {len(left)} job(s) not final: {again(left)}")
            raise


def again(left: list[JobRecord]) -> str:
    """The jobs left, and how to wait for them again: their references (``--run``
    would also wait for the run's other jobs), or the run when they are many."""
    runs = sorted({j.run for j in left})
    if len(left) <= 20 or len(runs) > 1:
        how = " ".join(shlex.quote(j.ref) for j in left[:20])
    else:
        how = f"--run {shlex.quote(runs[0])}"
    return f"{refs_text(left)} (they keep running; wait again: jobrelay wait {how})"
