"""The event stream (jobrelay.stream): one polling loop for many consumers,
the ledger's state events as the changes, the synchronous facade. Real
background jobs on the embedded localhost platform."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from pathlib import Path
from typing import Any

import pytest

from jobrelay.ledger import JobUpdate, Ledger
from jobrelay.manager.controller import SubmitItem
from jobrelay.session import Session
from jobrelay.states import JobState
from jobrelay.stream import Background, Hub, StateChange


def _config(tmp: Path) -> Path:
    config = tmp / "platforms.toml"
    config.write_text(f'[platforms.localhost]\nrun_root = "{tmp / "root"}"\n')
    return config


def _script(tmp: Path, name: str, text: str) -> SubmitItem:
    path = tmp / f"{name}.sh"
    path.write_text(text)
    return SubmitItem(path, name)


def _path(changes: list[StateChange], name: str) -> list[str]:
    return [c.new.value for c in changes if c.job.name == name]


def test_many_consumers_share_one_polling_loop(tmp_path: Path) -> None:
    polls: list[int] = []

    async def scenario() -> tuple[list[list[StateChange]], int]:
        async with Session.open(_config(tmp_path), tmp_path / "home") as jr, Hub(jr) as hub:
            real_poll = jr.controller.poll

            async def counted(jobs: Any, progress: Any = None) -> Any:
                jobs = list(jobs)
                polls.append(len(jobs))
                return await real_poll(jobs, progress)

            jr.controller.poll = counted  # type: ignore[method-assign]
            subs = [hub.changes(run="r") for _ in range(3)]
            jobs = await jr.controller.submit(
                [_script(tmp_path, "ok", "sleep 1\n"), _script(tmp_path, "bad", "exit 4\n")],
                "localhost",
                run="r",
            )
            by_id = hub.changes(jobs=[jobs[1].ref])

            async def drain(sub: Any) -> list[StateChange]:
                return [change async for change in sub]

            seen = await asyncio.gather(*(drain(s) for s in [*subs, by_id]))
            return seen, hub.looks

    seen, looks = asyncio.run(scenario())
    for changes in seen[:3]:
        assert _path(changes, "ok")[-1] == "succeeded"
        assert _path(changes, "bad")[-1] == "failed"
        assert [c.event_id for c in changes] == sorted({c.event_id for c in changes})
    assert seen[0] == seen[1] == seen[2]  # every consumer, every change, once
    assert {c.job.name for c in seen[3]} <= {"bad"}
    final = next(c for c in seen[0] if c.new is JobState.FAILED)
    assert final.job.exit_code == 4 and final.old is not JobState.FAILED
    # one poll per look for all four consumers, never one per consumer
    assert 0 < len(polls) <= looks


def test_a_change_recorded_by_another_process_reaches_the_consumers(tmp_path: Path) -> None:
    home = tmp_path / "home"

    async def scenario() -> list[StateChange]:
        async with Session.open(_config(tmp_path), home) as jr, Hub(jr, max_delay=0.2) as hub:
            (job,) = await jr.controller.submit(
                [_script(tmp_path, "long", "sleep 60\n")], "localhost", run="r"
            )
            got: list[StateChange] = []
            async with contextlib.aclosing(hub.changes(jobs=[job], follow=True)) as sub:
                # another writer on the same ledger file (as another process would be)
                with Ledger.open(home / "ledger.sqlite") as other:
                    other.apply(
                        [JobUpdate(job.id, state=JobState.UNKNOWN, reason="by the other writer")]
                    )
                async for change in sub:
                    got.append(change)
                    if change.reason == "by the other writer":
                        break
            await jr.controller.kill([jr.ledger.get(job.id)])
            return got

    got = asyncio.run(scenario())
    assert got[-1].new is JobState.UNKNOWN
    assert got[-1].job.state in (JobState.UNKNOWN, JobState.RUNNING, JobState.SUBMITTED)


def test_replay_gives_the_history_and_a_final_job_ends_the_subscription(tmp_path: Path) -> None:
    async def scenario() -> tuple[list[StateChange], list[StateChange]]:
        async with Session.open(_config(tmp_path), tmp_path / "home") as jr, Hub(jr) as hub:
            jobs = await jr.controller.submit(
                [_script(tmp_path, "quick", "true\n")], "localhost", run="r"
            )
            first = [c async for c in hub.changes(jobs=jobs)]
            replayed = [c async for c in hub.changes(jobs=jobs, replay=True)]
            return first, replayed

    first, replayed = asyncio.run(scenario())
    assert _path(replayed, "quick")[0] == "submitted"
    assert _path(replayed, "quick")[-1] == "succeeded"
    assert {c.event_id for c in first} <= {c.event_id for c in replayed}
    assert all(a.event_id < b.event_id for a, b in itertools.pairwise(replayed))


def test_an_error_that_stops_the_loop_is_raised_in_every_consumer(tmp_path: Path) -> None:
    async def scenario() -> list[str]:
        async with Session.open(_config(tmp_path), tmp_path / "home") as jr, Hub(jr) as hub:
            jobs = await jr.controller.submit(
                [_script(tmp_path, "x", "sleep 30\n")], "localhost", run="r"
            )

            async def broken(jobs: Any, progress: Any = None) -> Any:
                raise RuntimeError("the controller broke")

            real = jr.controller.poll
            jr.controller.poll = broken  # type: ignore[method-assign]
            errors = []
            for sub in [hub.changes(run="r"), hub.changes(jobs=jobs)]:
                with pytest.raises(RuntimeError) as caught:
                    async for _ in sub:
                        pass
                errors.append(str(caught.value))
            jr.controller.poll = real  # type: ignore[method-assign]
            await jr.controller.kill(jobs)
            return errors

    assert asyncio.run(scenario()) == ["the controller broke"] * 2


def test_the_synchronous_facade_follows_a_kill(tmp_path: Path) -> None:
    with Background(_config(tmp_path), tmp_path / "home", max_delay=0.5) as jr:
        (job,) = jr.submit([_script(tmp_path, "sleeper", "sleep 60\n")], "localhost", run="s")
        states = []
        for change in jr.changes(jobs=[job], replay=True):
            states.append(change.new)
            if change.new is JobState.RUNNING:
                jr.kill([jr.get(job.id)])
        assert states[-1] is JobState.KILLED
        assert JobState.RUNNING in states
        assert jr.get(job.ref).state is JobState.KILLED
    with pytest.raises(RuntimeError, match="closed"):
        jr.find(run="s")


def test_jobs_followed_one_by_one_cost_a_few_ledger_reads_per_look(tmp_path: Path) -> None:
    reads: list[int] = []

    async def scenario() -> tuple[list[list[StateChange]], int]:
        async with Session.open(_config(tmp_path), tmp_path / "home") as jr, Hub(jr) as hub:
            items = [_script(tmp_path, f"j{n}", "sleep 2\n") for n in range(30)]
            jobs = await jr.controller.submit(items, "localhost", run="many")
            real_find = jr.ledger.find

            def counted(*args: Any, **kwargs: Any) -> Any:
                reads.append(1)
                return real_find(*args, **kwargs)

            jr.ledger.find = counted  # type: ignore[method-assign]
            subs = [hub.changes(jobs=[job], replay=True) for job in jobs]

            async def drain(sub: Any) -> list[StateChange]:
                return [change async for change in sub]

            seen = await asyncio.gather(*(drain(s) for s in subs))
            return seen, hub.looks

    seen, looks = asyncio.run(scenario())
    assert all(changes and changes[-1].new is JobState.SUCCEEDED for changes in seen)
    assert all({c.job.name for c in changes} == {f"j{n}"} for n, changes in enumerate(seen))
    # per look: the watched jobs (x2: before the poll, before the events), the events' jobs;
    # the controller's own reads come on top: never one read per subscription
    assert looks >= 3  # the jobs ran while the hub looked
    assert len(reads) <= looks * 8 + 30
