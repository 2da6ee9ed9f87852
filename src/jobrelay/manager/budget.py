"""The polling budget: runner queries and new ssh connections per endpoint,
shared by every jobrelay process of the user through small locked files.

An endpoint is what a site's admin watches: a batch scheduler's server (a
Slurm cluster, a PBS server: ``runner@cluster``, else ``runner@hosts``), or
one host's process table for background and at jobs (``runner@host``).
``<JOBRELAY_HOME>/budget/<endpoint>.json`` holds, under an fcntl lock:

- ``asked``: when the last runner query was made; the next one waits one
  interval (period / count) after it, so no window of PERIOD ever holds more
  than COUNT, however many processes ask;
- ``flight``: the one query under way (its process, and until when it may
  run): at most one at a time, the others wait for its answer;
- ``wants``: the runner ids each waiting process needs; the next query asks
  for all of them (one squeue for every process);
- ``view``: the last query's answer. A process whose ids it covers takes it
  while it is younger than one interval (period / count) instead of asking.

The runner query itself runs on the job host (the agent runs squeue there),
so the budget is enforced here, on the controller, before the call: the
request carries a ``RunnerGrant`` (ask, for which extra ids; or the shared
answer), the agent obeys it and sends back the query it made, which is then
published. A process that waits longer than a period plus a call gets a
grant without asking: its jobs' states come from their status files alone
("runner not asked"), never worse.

``ssh@<host>.json`` is the same window for new ssh connections to a host
(a session over an already open master connection is not a new one).
"""

from __future__ import annotations

import os
import time

from ..engine.protocol import RunnerGrant, RunnerQuery, info_dict, info_from_wire
from ..host_dataclasses import dataclass
from ..platforms.model import HOST_QUERIES, SCHEDULER_QUERIES, SCHEDULER_SUBMITS, Platform
from ..platforms.rates import UNLIMITED, Rate
from ..runners.registry import RunnerLoadError, runner_class

TYPE_CHECKING = False  # importing typing costs a one-shot command's start: names for mypy only
if TYPE_CHECKING:
    from collections.abc import Generator, Iterable
    from pathlib import Path

    from ..json_state import JsonState

STATE_DIR = "budget"
WAIT_STEP = 0.2  # seconds between looks while waiting for a query or a token


def endpoint_of(platform: Platform, where: str) -> str:
    """The endpoint a poll batch's runner query goes to (``where``: the
    controller's group key, ``host:H`` for host-bound runners)."""
    if platform.endpoint:
        return platform.endpoint
    if where.startswith("host:"):
        return f"{platform.runner}@{where[5:]}"
    return f"{platform.runner}@{platform.cluster or ','.join(sorted(platform.hosts))}"


def host_bound(platform: Platform) -> bool:
    """Background and at: the host's process table, no scheduler's server."""
    try:
        return runner_class(platform.runner).host_bound
    except RunnerLoadError:
        return False


def query_rate(platform: Platform) -> Rate:
    if platform.runner_queries is not None:
        return platform.runner_queries
    return HOST_QUERIES if host_bound(platform) else SCHEDULER_QUERIES


def submit_rate(platform: Platform) -> Rate:
    if platform.submit_rate is not None:
        return platform.submit_rate
    return UNLIMITED if host_bound(platform) else SCHEDULER_SUBMITS


def _state(home: Path, name: str) -> JsonState:
    # here: a one-shot `status` of a background job keeps no budget (no pathlib, no json)
    from pathlib import Path
    from urllib.parse import quote

    from ..json_state import JsonState

    path = Path(home) / STATE_DIR / (quote(name, safe="@,") + ".json")
    return JsonState(path, "budget", durable=False)


def _hostname() -> str:
    """``socket.gethostname()`` (the same system call), without loading socket
    (and selectors) into every `status` of a local job."""
    return os.uname().nodename


def _me() -> dict[str, object]:
    return {"host": _hostname(), "pid": os.getpid()}


def _gone(owner: dict[str, object]) -> bool:
    """The process named is known dead (only on this host can it be checked)."""
    if owner.get("host") != _hostname():
        return False
    try:
        os.kill(int(str(owner.get("pid"))), 0)
    except ProcessLookupError:
        return True
    except (OSError, ValueError):
        return False
    return False


@dataclass(frozen=True)
class Ticket:
    """A runner query this process was allowed to make."""

    since: float  # its entry in ``asked``
    ids: tuple[str, ...]


class RunnerBudget:
    """One endpoint's runner queries, shared by the user's processes."""

    def __init__(self, home: Path, endpoint: str, runner: str, rate: Rate, call: float) -> None:
        self.endpoint = endpoint
        self.runner = runner
        self.rate = rate
        self.call = call  # how long one call may take (its flight's limit)
        self.state = _state(home, endpoint)
        self.queries = 0  # made by this process (tests, logs)

    def want(self, ids: Iterable[str]) -> None:
        """Say ahead which ids this process will ask about (all the batches of
        one poll cycle), so that the first query asks about all of them."""
        wanted = set(ids)
        if not wanted or self.rate.unlimited:
            return
        with self.state.update() as table:
            wants = table.setdefault("wants", {})
            now = time.time()
            for rid in wanted:
                wants.setdefault(rid, now)

    async def grant(self, ids: Iterable[str]) -> tuple[RunnerGrant | None, Ticket | None]:
        """What this poll may ask the runner; a ticket to ``settle`` after the call."""
        turns = self._turns(ids)
        try:
            while True:
                import asyncio  # here: the synchronous local poll needs no event loop

                await asyncio.sleep(next(turns))
        except StopIteration as done:
            return done.value  # type: ignore[no-any-return]

    def grant_blocking(self, ids: Iterable[str]) -> tuple[RunnerGrant | None, Ticket | None]:
        """``grant`` for a synchronous caller (a one-shot command with no event loop)."""
        turns = self._turns(ids)
        try:
            while True:
                time.sleep(next(turns))
        except StopIteration as done:
            return done.value  # type: ignore[no-any-return]

    def _turns(
        self, ids: Iterable[str]
    ) -> Generator[float, None, tuple[RunnerGrant | None, Ticket | None]]:
        """The pauses to wait, one by one; the grant at the end (async or not)."""
        wanted = sorted(set(ids))
        if self.rate.unlimited:
            return None, None
        if not wanted:
            return RunnerGrant(self.runner, ask=False), None
        deadline = time.time() + self.rate.interval + 2 * self.call
        while True:
            decided, wait = self._decide(wanted)
            if decided is not None:
                return decided
            if time.time() + wait > deadline:
                return RunnerGrant(self.runner, ask=False), None
            yield wait * _jitter(0.8, 1.2)

    def _decide(self, wanted: list[str]) -> tuple[tuple[RunnerGrant, Ticket | None] | None, float]:
        rate = self.rate
        shared = self._shared(self.state.read(), wanted, time.time())  # no lock to read
        if shared is not None:
            return (shared, None), 0.0
        with self.state.update() as table:
            now = time.time()
            shared = self._shared(table, wanted, now)
            if shared is not None:
                return (shared, None), 0.0
            asked = [t for t in table.get("asked", []) if t > now - rate.period][-1:]
            wants = {
                i: t for i, t in table.get("wants", {}).items() if t > now - rate.period - self.call
            }
            for rid in wanted:
                wants.setdefault(rid, now)
            table["asked"], table["wants"] = asked, wants
            flight = table.get("flight")
            if flight and (flight.get("until", 0) < now or _gone(flight)):
                flight = table["flight"] = None
            if flight:
                return None, WAIT_STEP  # one query at a time: its answer may cover us
            if asked and now - asked[-1] < rate.interval:
                return None, max(0.05, min(WAIT_STEP, asked[-1] + rate.interval - now))
            union = sorted(wants)
            asked.append(now)
            table["flight"] = {**_me(), "since": now, "until": now + self.call}
        mine = set(wanted)
        self.queries += 1
        grant = RunnerGrant(self.runner, ask=True, extra=[i for i in union if i not in mine])
        return (grant, Ticket(now, tuple(union))), 0.0

    def _shared(
        self, table: dict[str, object], wanted: list[str], now: float
    ) -> RunnerGrant | None:
        """The last answer, if young enough and about every id wanted."""
        view = table.get("view")
        if not isinstance(view, dict) or now - float(view.get("time", 0)) >= self.rate.interval:
            return None
        covers = set(view.get("covers", []))
        if not covers.issuperset(wanted):
            return None
        jobs = view.get("jobs", {})
        return RunnerGrant(
            self.runner,
            ask=False,
            covers=wanted,
            jobs={i: info_from_wire(jobs[i]) for i in wanted if i in jobs},
        )

    def settle(self, ticket: Ticket | None, query: RunnerQuery | None, complete: bool) -> None:
        """After the call: publish the answer; give the token back if no query was made."""
        if ticket is None:
            return
        with self.state.update() as table:
            flight = table.get("flight")
            if flight and flight.get("since") == ticket.since and not _gone(flight):
                table["flight"] = None
            if query is None:
                if complete:  # the agent made no query (the status files settled all)
                    table["asked"] = [t for t in table.get("asked", []) if t != ticket.since]
                    self.queries -= 1
                return
            if query.error:
                return  # the query was made (it counts) and answered nothing
            table["view"] = {
                "time": ticket.since,
                "covers": query.ids,
                "jobs": {k: info_dict(v) for k, v in query.jobs.items()},
            }
            covered = set(query.ids)
            wants = table.get("wants", {})
            table["wants"] = {i: t for i, t in wants.items() if i not in covered}

    def forget(self, ids: Iterable[str]) -> None:
        """Ids whose runner state this process just changed (a kill): not taken
        from the shared answer again."""
        gone = set(ids)
        if not gone or self.rate.unlimited:
            return
        with self.state.update() as table:
            view = table.get("view")
            if isinstance(view, dict) and gone & set(view.get("covers", [])):
                view["covers"] = [i for i in view["covers"] if i not in gone]


class SharedWindow:
    """At most the rate's COUNT events in any PERIOD, counted in one shared
    file by all of the user's processes (new ssh connections to a host, jobs
    submitted to a platform)."""

    def __init__(self, home: Path, name: str, rate: Rate) -> None:
        self.state = _state(home, name)
        self.rate = rate
        self.taken = 0  # events admitted in this process (tests, logs)

    async def take(self, count: int = 1) -> None:
        """Return once ``count`` more events fit in the window (all at once)."""
        while (wait := self._admit(count)) is not None:
            import asyncio

            await asyncio.sleep(wait)

    def take_blocking(self, count: int = 1) -> None:
        """``take`` for a synchronous caller (a one-shot command without an event loop)."""
        while (wait := self._admit(count)) is not None:
            time.sleep(wait)

    def _admit(self, count: int) -> float | None:
        """Admit ``count`` events now (None), or say how long to wait before asking again."""
        if self.rate.unlimited:
            return None
        count = min(count, self.rate.count)  # more than the window can never fit
        with self.state.update() as table:
            now = time.time()
            log = sorted(t for t in table.get("log", []) if t > now - self.rate.period)
            if len(log) + count <= self.rate.count:
                table["log"] = [*log, *([now] * count)]
                self.taken += count
                return None
            table["log"] = log
            wait = float(log[len(log) + count - self.rate.count - 1] + self.rate.period - now)
        return max(0.05, wait) * _jitter(1.0, 1.2)


class ConnectionBudget:
    """New ssh connections per host, shared by the user's processes."""

    def __init__(self, home: Path, rate: Rate) -> None:
        from pathlib import Path

        self.home = Path(home)
        self.rate = rate
        self.opened = 0  # admitted in this process (tests, logs)

    async def admit(self, host: str) -> None:
        """Return once a new connection to ``host`` fits in the window."""
        await SharedWindow(self.home, f"ssh@{host}", self.rate).take()
        self.opened += 1


def backoff(attempt: int, base: float = 1.0, cap: float = 10.0) -> float:
    """The pause before retry ``attempt + 1``: exponential with full jitter
    (retrying processes spread out instead of coming back together)."""
    return _jitter(0.0, min(cap, base * 2.0**attempt))


def _jitter(low: float, high: float) -> float:
    import random  # here: only a process that waits or retries needs it

    return random.uniform(low, high)
