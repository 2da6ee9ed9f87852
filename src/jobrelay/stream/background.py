"""The synchronous facade: a session and its hub on an event loop in a thread of its own.

For scripts and for callers that are not asynchronous (the PSI/J
executor). Everything that touches the session runs in that thread (the
ledger's SQLite connection belongs to it); callers block on the result.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Callable, Coroutine, Iterable, Iterator, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

from ..ledger.records import JobRecord
from ..manager.controller import SubmitItem
from ..manager.waiting import MAX_DELAY
from ..session import Session
from ..states import JobState
from .change import StateChange
from .hub import Hub

T = TypeVar("T")


class Background:
    """``with Background() as jr:`` a session (found as the CLI finds its config
    and state) and a ``Hub``, driven from any thread."""

    def __init__(
        self,
        config: Path | str | None = None,
        home: Path | None = None,
        max_delay: float = MAX_DELAY,
    ) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="jobrelay-stream", daemon=True
        )
        self._thread.start()
        self._closed = False

        async def start() -> tuple[Session, Hub]:
            session = Session.open(config, home)
            return session, Hub(session, max_delay)

        try:
            self.session, self.hub = self.call(start())
        except BaseException:
            self._stop_loop()
            raise

    # -- running things in the loop -----------------------------------------
    def call(self, coro: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        """Run ``coro`` in the loop's thread and return its result (or raise its error)."""
        return self.spawn(coro).result(timeout)

    def spawn(self, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        """Start ``coro`` in the loop's thread; its future, not waited for."""
        if self._closed:
            coro.close()
            raise RuntimeError("this jobrelay Background is closed")
        return asyncio.run_coroutine_threadsafe(coro, self._loop)

    def run(self, fn: Callable[[Session], T]) -> T:
        """Run ``fn(session)`` (plain code: ledger reads, say) in the loop's thread."""

        async def inside() -> T:
            return fn(self.session)

        return self.call(inside())

    # -- the usual calls ---------------------------------------------------------
    def submit(self, items: Sequence[SubmitItem], platform: str, run: str) -> list[JobRecord]:
        jobs = self.call(self.session.controller.submit(items, platform, run=run))
        self.run(lambda _: self.hub.nudge())
        return jobs

    def kill(self, jobs: Iterable[JobRecord]) -> list[JobRecord]:
        return self.call(self.session.controller.kill(list(jobs)))

    def find(
        self,
        run: str | None = None,
        ids: Iterable[int] | None = None,
        states: Iterable[JobState] | None = None,
    ) -> list[JobRecord]:
        wanted = None if ids is None else list(ids)
        return self.run(lambda s: s.ledger.find(run=run, ids=wanted, states=states))

    def get(self, ref: str | int) -> JobRecord:
        return self.run(lambda s: s.ledger.get(ref))

    def changes(
        self,
        run: str | None = None,
        jobs: Iterable[JobRecord | int | str] | None = None,
        *,
        follow: bool = False,
        replay: bool = False,
    ) -> Iterator[StateChange]:
        """``for change in jr.changes(run="r")``: ``Hub.changes``, blocking."""
        wanted = None if jobs is None else list(jobs)
        sub = self.run(lambda _: self.hub.changes(run, wanted, follow=follow, replay=replay))
        try:
            while (change := self.call(sub.next_change())) is not None:
                yield change
        finally:
            if not self._closed:
                self.run(lambda _: sub.close())

    # -- closing -------------------------------------------------------------
    def close(self) -> None:
        if self._closed:
            return

        async def finish() -> None:
            try:
                await self.hub.close()
            finally:
                await self.session.close()

        try:
            self.call(finish())
        finally:
            self._stop_loop()

    def _stop_loop(self) -> None:
        self._closed = True
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
        self._loop.close()

    def __enter__(self) -> Background:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
