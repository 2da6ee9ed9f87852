"""One polling loop, any number of consumers.

A ``Hub`` polls, through its session's controller, the jobs its
subscriptions watch that are not final, then reads the ledger's state
events written since its last look and hands each to every subscription
that watches its job. The events are the ledger's: a change recorded by
another process (a CLI ``poll``, another scheduler) reaches the consumers
too, and a consumer sees each change once, in the order it was recorded.

The delay between polls grows while nothing changes and drops back to the
first delay when a look finds news (as ``manager.waiting`` does); a new
subscription or ``nudge()`` starts a look at once.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable
from types import TracebackType

from ..host_dataclasses import dataclass
from ..ledger.records import EventKind, JobRecord
from ..manager.waiting import FIRST_DELAY, GROWTH, MAX_DELAY
from ..session import Session
from .change import StateChange, parse_state_event

_STATE = (EventKind.STATE,)


@dataclass(frozen=True)
class Watch:
    """Which jobs a subscription follows: a run's, given ids, or both filters at once."""

    run: str | None = None
    ids: frozenset[int] | None = None

    def find(self, session: Session) -> list[JobRecord]:
        return session.ledger.find(run=self.run, ids=self.ids)


@dataclass(frozen=True)
class _End:
    error: BaseException | None = None


class Subscription:
    """``async for change in subscription``: the changes of the jobs it watches.

    Without ``follow`` it ends once every job it watches is final (a run with
    no jobs yet is waited for); with ``follow`` it lasts until ``close()``.
    An error that stops the hub's loop is raised here.
    """

    def __init__(self, hub: Hub, watch: Watch, follow: bool) -> None:
        self._hub = hub
        self.watch = watch
        self.follow = follow
        self._queue: asyncio.Queue[StateChange | _End] = asyncio.Queue()
        self._ended = False

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> StateChange:
        change = await self.next_change()
        if change is None:
            raise StopAsyncIteration
        return change

    async def next_change(self) -> StateChange | None:
        """The next change; None once the subscription has ended."""
        item = await self._queue.get()
        if isinstance(item, _End):
            self._queue.put_nowait(item)  # every later call ends too
            if item.error is not None:
                raise item.error
            return None
        return item

    def close(self) -> None:
        """Stop following (the hub's loop stops with its last subscription)."""
        self._hub._drop(self)
        self._end()

    def _put(self, change: StateChange) -> None:
        if not self._ended:
            self._queue.put_nowait(change)

    def _end(self, error: BaseException | None = None) -> None:
        if not self._ended:
            self._ended = True
            self._queue.put_nowait(_End(error))

    async def aclose(self) -> None:
        """``close()``, for ``contextlib.aclosing``."""
        self.close()


class Hub:
    """Fans one polling loop out to many subscriptions. Use in the session's event loop."""

    def __init__(self, session: Session, max_delay: float = MAX_DELAY) -> None:
        self.session = session
        self.max_delay = max_delay
        self._subs: list[Subscription] = []
        self._mark = 0  # the last state event handed out
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        #: looks taken (each: one poll of the watched jobs, one read of new events)
        self.looks = 0

    def changes(
        self,
        run: str | None = None,
        jobs: Iterable[JobRecord | int | str] | None = None,
        *,
        follow: bool = False,
        replay: bool = False,
    ) -> Subscription:
        """Subscribe to the state changes of ``run``'s jobs and/or of ``jobs``
        (records, ids or references ``run/id``).

        Changes recorded from now on are delivered; with ``replay`` the
        watched jobs' earlier changes come first.
        """
        ids = None if jobs is None else frozenset(self._job_id(j) for j in jobs)
        sub = Subscription(self, Watch(run, ids), follow)
        if self._task is None:  # no look under way: news starts after the newest event
            self._mark = self.session.ledger.last_event_id()
        if replay:
            self._replay(sub)
        self._subs.append(sub)
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._loop())
        self.nudge()
        return sub

    def nudge(self) -> None:
        """Take the next look now (after a submit, say) rather than after the delay."""
        self._wake.set()

    async def close(self) -> None:
        """End every subscription and the loop."""
        for sub in list(self._subs):
            sub.close()
        task = self._task
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def __aenter__(self) -> Hub:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    # -- the loop ----------------------------------------------------------
    async def _loop(self) -> None:
        delay = FIRST_DELAY
        try:
            while self._subs:
                self._wake.clear()
                watched = {j.id: j for jobs in self._watched().values() for j in jobs}
                pending = [j for j in watched.values() if not j.state.is_final]
                if pending:
                    await self.session.controller.poll(pending)
                news = self._look()
                delay = FIRST_DELAY if news else min(delay * GROWTH, self.max_delay)
                if self._subs:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._wake.wait(), delay)
        except Exception as exc:  # consumers must hear of it, not wait for ever
            for sub in list(self._subs):
                sub._end(exc)
            self._subs.clear()
        finally:
            self._task = None

    def _look(self) -> bool:
        """Hand out the state events recorded since the last look; end the
        subscriptions whose jobs are all final. True when there was news."""
        ledger = self.session.ledger
        self.looks += 1
        # the jobs first, then the events: a job read final here has its
        # final event committed already, so no subscription ends before it
        finals = {sub: _all_final(jobs) for sub, jobs in self._watched().items()}
        events = ledger.events_after(self._mark, _STATE)
        if events:
            self._mark = events[-1].id
            jobs = {j.id: j for j in ledger.find(ids={e.job_id for e in events})}
            by_id: dict[int, list[Subscription]] = {}
            by_run: dict[str | None, list[Subscription]] = {}
            for sub in self._subs:
                for job_id in sub.watch.ids or ():
                    by_id.setdefault(job_id, []).append(sub)
                if sub.watch.ids is None:
                    by_run.setdefault(sub.watch.run, []).append(sub)
            for event in events:
                change = parse_state_event(event, jobs[event.job_id])
                for sub in (
                    *by_id.get(change.job.id, ()),
                    *by_run.get(change.job.run, ()),
                    *by_run.get(None, ()),
                ):
                    if _watches(sub.watch, change.job):
                        sub._put(change)
        for sub, done in finals.items():
            if done and not sub.follow:
                self._drop(sub)
                sub._end()
        return bool(events)

    def _watched(self) -> dict[Subscription, list[JobRecord]]:
        """Each subscription's jobs as the ledger holds them now: one query for
        every subscription by ids, one per run followed (a thousand jobs
        followed one by one are one query, not a thousand)."""
        ledger = self.session.ledger
        ids = {i for sub in self._subs for i in sub.watch.ids or ()}
        by_id = {j.id: j for j in ledger.find(ids=ids)} if ids else {}
        runs: dict[str | None, list[JobRecord]] = {}
        found: dict[Subscription, list[JobRecord]] = {}
        for sub in self._subs:
            watch = sub.watch
            if watch.ids is None:
                if watch.run not in runs:
                    runs[watch.run] = ledger.find(run=watch.run)
                found[sub] = runs[watch.run]
            else:
                mine = (by_id[i] for i in sorted(watch.ids) if i in by_id)
                found[sub] = [j for j in mine if _watches(watch, j)]
        return found

    def _replay(self, sub: Subscription) -> None:
        """The watched jobs' changes up to the hub's mark, oldest first."""
        ledger = self.session.ledger
        history = []
        for job in sub.watch.find(self.session):
            for event in ledger.events(job.id, _STATE):
                if event.id <= self._mark:
                    history.append((event, job))
        for event, job in sorted(history, key=lambda pair: pair[0].id):
            sub._put(parse_state_event(event, job))

    def _drop(self, sub: Subscription) -> None:
        if sub in self._subs:
            self._subs.remove(sub)

    def _job_id(self, job: JobRecord | int | str) -> int:
        if isinstance(job, JobRecord):
            return job.id
        if isinstance(job, int):
            return job
        return self.session.ledger.get(job).id


def _watches(watch: Watch, job: JobRecord) -> bool:
    return (watch.run is None or job.run == watch.run) and (
        watch.ids is None or job.id in watch.ids
    )


def _all_final(jobs: list[JobRecord]) -> bool:
    return bool(jobs) and all(j.state.is_final for j in jobs)
