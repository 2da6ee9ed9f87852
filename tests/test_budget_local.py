"""The polling budget's shared file, between real processes (no scheduler).

Twenty processes ask one endpoint's budget for overlapping runner ids at
once; each that is granted a query "makes" it (a pause) and publishes the
answer. Never two queries less than one interval apart, one in flight at a
time, and every process gets a query or an answer covering all its ids.
The Slurm end to end (sdiag counts, real squeue) is tests/test_budget_slurm.py.
"""

from __future__ import annotations

import asyncio
import itertools
import multiprocessing
import time
from pathlib import Path

import pytest

from jobrelay.engine.protocol import RunnerQuery
from jobrelay.manager.budget import ConnectionBudget, RunnerBudget, SharedWindow, backoff
from jobrelay.platforms.config import parse_document
from jobrelay.platforms.errors import ConfigError
from jobrelay.platforms.rates import Rate, parse_rate
from jobrelay.runners.base import RunnerJobInfo, RunnerState

PROCESSES = 20
RATE = Rate(1, 1.0)  # one query per second


def _ask(home: str, k: int, out: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    async def go() -> None:
        budget = RunnerBudget(Path(home), "slurm@c", "slurm", RATE, 10.0)
        ids = [f"{k}", f"{(k + 1) % PROCESSES}"]
        grant, ticket = await budget.grant(ids)
        assert grant is not None
        began = ticket.since if ticket is not None else time.time()  # the budget's own clock
        if grant.ask:
            union = sorted({*ids, *grant.extra})
            await asyncio.sleep(0.2)  # the query takes a while: others must wait
            answers = {i: RunnerJobInfo(i, RunnerState.PENDING) for i in union}
            ended = time.time()
            budget.settle(ticket, RunnerQuery(union, answers), complete=True)
            out.put(("ask", k, began, ended, union))
        else:
            out.put(("shared", k, began, began, sorted(grant.jobs)))

    asyncio.run(go())


def test_concurrent_processes_share_queries_one_interval_apart(tmp_path: Path) -> None:
    out: multiprocessing.Queue = multiprocessing.Queue()  # type: ignore[type-arg]
    procs = [
        multiprocessing.Process(target=_ask, args=(str(tmp_path), k, out)) for k in range(PROCESSES)
    ]
    for proc in procs:
        proc.start()
    results = [out.get(timeout=120) for _ in procs]
    for proc in procs:
        proc.join(timeout=60)
        assert proc.exitcode == 0
    asks = sorted((r for r in results if r[0] == "ask"), key=lambda r: r[2])
    assert 1 <= len(asks) < PROCESSES  # shared, not one each
    for before, after in itertools.pairwise(asks):
        assert after[2] - before[2] >= RATE.interval  # one interval apart ...
        assert after[2] >= before[3]  # ... and never two in flight
    for kind, k, *_rest, covered in results:
        mine = {f"{k}", f"{(k + 1) % PROCESSES}"}
        assert mine <= set(covered), (kind, k, covered)  # everyone got its answer


def test_no_query_made_gives_the_turn_back_and_a_failed_one_shares_nothing(
    tmp_path: Path,
) -> None:
    budget = RunnerBudget(tmp_path, "pbs@s", "pbs", Rate(1, 3600.0), 10.0)
    grant, ticket = asyncio.run(budget.grant(["1"]))
    assert grant is not None and grant.ask
    budget.settle(ticket, None, complete=True)  # the status files settled everything
    grant, ticket = asyncio.run(budget.grant(["1"]))
    assert grant is not None and grant.ask  # the turn was given back: no hour's wait
    budget.settle(ticket, RunnerQuery(["1"], error="squeue: timed out"), complete=True)
    assert "view" not in budget.state.read() or not budget.state.read()["view"]


def test_a_killed_job_is_not_taken_from_the_shared_answer(tmp_path: Path) -> None:
    budget = RunnerBudget(tmp_path, "slurm@c", "slurm", Rate(1, 3600.0), 10.0)
    grant, ticket = asyncio.run(budget.grant(["1", "2"]))
    assert grant is not None and grant.ask
    running = {i: RunnerJobInfo(i, RunnerState.RUNNING) for i in ("1", "2")}
    budget.settle(ticket, RunnerQuery(["1", "2"], running), complete=True)
    shared, _ = asyncio.run(budget.grant(["2"]))
    assert shared is not None and not shared.ask and shared.covers == ["2"]
    assert shared.jobs["2"].state is RunnerState.RUNNING
    budget.forget(["2"])
    assert budget._shared(budget.state.read(), ["2"], time.time()) is None
    assert budget._shared(budget.state.read(), ["1"], time.time()) is not None


def test_connection_budget_counts_per_host(tmp_path: Path) -> None:
    budget = ConnectionBudget(tmp_path, Rate(2, 3600.0))

    async def two_each() -> None:
        for host in ("a", "b"):
            await budget.admit(host)
            await budget.admit(host)
        with pytest.raises(TimeoutError):  # a third to "a" waits for the window
            await asyncio.wait_for(budget.admit("a"), 0.5)

    asyncio.run(two_each())
    assert budget.opened == 4


def test_rates_and_platform_keys() -> None:
    assert parse_rate("50/2min") == Rate(50, 120.0)
    assert parse_rate("1/10s").interval == 10.0
    assert parse_rate("unlimited").unlimited
    for bad in ("0/1min", "fast", "5/0s", "5 per minute"):
        with pytest.raises(ValueError):
            parse_rate(bad)
    doc = {"platforms": {"hpc": {"runner": "slurm", "runner_queries": "2/1min"}}}
    platform = parse_document(doc, "t.toml")["hpc"]
    assert platform.runner_queries == Rate(2, 60.0) and platform.endpoint is None
    with pytest.raises(ConfigError, match="runner_queries"):
        parse_document({"platforms": {"hpc": {"runner_queries": "often"}}}, "t.toml")


def test_submit_window_takes_whole_batches_and_backoff_is_bounded(tmp_path: Path) -> None:
    window = SharedWindow(tmp_path, "submit@p", parse_rate("5/1h"))
    other = SharedWindow(tmp_path, "submit@p", parse_rate("5/1h"))  # another process's view

    async def fill() -> None:
        await window.take(3)
        await other.take(2)  # the same file: 5 of 5 taken
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(window.take(1), 0.5)

    asyncio.run(fill())
    assert (window.taken, other.taken) == (3, 2)
    pauses = [backoff(attempt) for attempt in range(8) for _ in range(20)]
    assert all(0.0 <= p <= 10.0 for p in pauses)
    assert max(backoff(0) for _ in range(50)) <= 1.0


def test_ids_wanted_ahead_are_in_the_first_query(tmp_path: Path) -> None:
    """A poll cycle of several batches to one endpoint: one query for all."""
    budget = RunnerBudget(tmp_path, "slurm@c", "slurm", Rate(1, 3600.0), 10.0)
    budget.want(["1", "2", "3", "4"])  # the cycle's two batches: 1, 2 and 3, 4
    first, ticket = asyncio.run(budget.grant(["1", "2"]))
    assert first is not None and first.ask and sorted(first.extra) == ["3", "4"]
    answers = {i: RunnerJobInfo(i, RunnerState.RUNNING) for i in "1234"}
    budget.settle(ticket, RunnerQuery(list("1234"), answers), complete=True)
    second, _ = asyncio.run(budget.grant(["3", "4"]))  # no hour's wait: answered already
    assert second is not None and not second.ask and sorted(second.jobs) == ["3", "4"]
