"""Agent sessions: one ``agent --serve`` per host answers a controller's polls.

Real background jobs, the real agent (locally and over the real sshd of
host1), the real controller. Nothing stands in for a component.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any, Iterator

import pytest
from conftest import Infra, require
from job_dirs import process_alive, wait_for
from ssh_harness import unique_root

from jobrelay.ledger.records import JobRecord
from jobrelay.ledger.store import Ledger
from jobrelay.manager.agentcall import SESSIONS_PER_HOST, AgentCaller
from jobrelay.manager.controller import Controller, SubmitItem
from jobrelay.manager.serving_agent import ServingAgent
from jobrelay.platforms.config import parse_platform
from jobrelay.states import JobState
from jobrelay.zipapps import build_agent


def local_controller(tmp_path: Path, ledger: Ledger, **extra: Any) -> Controller:
    table = {"hosts": ["localhost"], "transport": "local", "run_root": str(tmp_path / "run")}
    platform = parse_platform("loc", {**table, **extra}, "test")
    return Controller(tmp_path / "home", {"loc": platform}, ledger)


def caller_of(ctl: Controller, name: str) -> AgentCaller:
    caller = ctl.caller(ctl.platform(name))
    assert isinstance(caller, AgentCaller)
    return caller


@pytest.fixture()
def waiting(tmp_path: Path) -> Iterator[tuple[Path, Path]]:
    """A script that runs until its flag file exists; the flag is made at the end
    of the test whatever happens, so no job outlives it."""
    flag = tmp_path / "go"
    script = tmp_path / "wait.sh"
    script.write_text(f"while [ ! -e {flag} ]; do sleep 0.05; done\necho done\n")
    yield script, flag
    flag.touch()


def poll(ctl: Controller, jobs: list[JobRecord]) -> list[JobRecord]:
    return asyncio.run(ctl.poll(jobs))


def first_session(caller: AgentCaller) -> ServingAgent | None:
    pool = caller.sessions.get("localhost") or []
    return pool[0] if pool else None


def must(session: ServingAgent | None) -> ServingAgent:
    assert session is not None, "no session serves localhost"
    return session


async def poll_until_served(ctl: Controller, jobs: list[JobRecord]) -> list[JobRecord]:
    """Poll until the jobs run and a session serves the host (bounded: never hangs)."""
    caller = caller_of(ctl, "loc")
    for _ in range(600):
        jobs = await ctl.poll(jobs)
        if first_session(caller) and all(j.state is JobState.RUNNING for j in jobs):
            return jobs
        await asyncio.sleep(0.05)
    raise AssertionError(f"no session after 600 polls: {[j.state for j in jobs]}")


async def poll_until_final(ctl: Controller, jobs: list[JobRecord]) -> list[JobRecord]:
    """Poll until every job is final (bounded: never hangs)."""
    for _ in range(600):
        jobs = await ctl.poll(jobs)
        if all(j.state.is_final for j in jobs):
            return jobs
        await asyncio.sleep(0.05)
    raise AssertionError(f"not final after 600 polls: {[j.state for j in jobs]}")


def test_polls_after_the_first_go_to_one_session_that_close_ends(
    tmp_path: Path, waiting: tuple[Path, Path]
) -> None:
    script, flag = waiting
    with Ledger.open(tmp_path / "ledger.sqlite") as ledger:
        ctl = local_controller(tmp_path, ledger)

        async def scenario() -> tuple[list[JobRecord], list[int | None], int]:
            items = [SubmitItem(script, f"w{i}") for i in range(5)]
            jobs = await ctl.submit(items, "loc", "r")
            caller = caller_of(ctl, "loc")
            pids: list[int | None] = []
            for _ in range(5):
                jobs = await ctl.poll(jobs)
                session = first_session(caller)
                pids.append(session.proc.pid if session else None)
            flag.touch()
            jobs = await poll_until_final(ctl, jobs)
            served = must(first_session(caller)).proc.pid
            await ctl.close()
            return jobs, pids, served

        jobs, pids, served = asyncio.run(scenario())
        # the first poll is one-shot; every later one is the same session
        assert pids[0] is None and pids[1] is not None
        assert len(set(pids[1:])) == 1 and served == pids[1]
        assert [j.state for j in jobs] == [JobState.SUCCEEDED] * 5
        wait_for(lambda: not process_alive(served), f"the session (pid {served}) to end on close")


def test_batches_of_one_host_asked_at_once_each_get_a_session_of_a_bounded_pool(
    tmp_path: Path, waiting: tuple[Path, Path]
) -> None:
    """A host's jobs in several batches (max_poll_batch) are asked at once: each
    batch gets its own session (none goes one-shot), the same ones poll after
    poll, never more than SESSIONS_PER_HOST, and close ends them all."""
    script, flag = waiting
    batches = SESSIONS_PER_HOST + 1  # one more than the pool: that one goes one-shot
    with Ledger.open(tmp_path / "ledger.sqlite") as ledger:
        ctl = local_controller(tmp_path, ledger, max_poll_batch=2)

        async def scenario() -> tuple[list[JobRecord], list[set[int]]]:
            items = [SubmitItem(script, f"w{i}") for i in range(2 * batches)]
            jobs = await ctl.submit(items, "loc", "r")
            caller = caller_of(ctl, "loc")
            pools: list[set[int]] = []
            for _ in range(4):
                jobs = await ctl.poll(jobs)
                pools.append({s.proc.pid for s in caller.sessions.get("localhost", [])})
            flag.touch()
            jobs = await poll_until_final(ctl, jobs)
            await ctl.close()
            return jobs, pools

        jobs, pools = asyncio.run(scenario())
        # the first call to the host is one-shot; the batches after it may take sessions
        assert pools[0] <= pools[1] and len(pools[1]) == SESSIONS_PER_HOST, pools
        assert pools[1] == pools[2] == pools[3], pools  # reused, not replaced or leaked
        assert all(j.state is JobState.SUCCEEDED for j in jobs), [j.state for j in jobs]
        for pid in pools[1]:
            wait_for(lambda pid=pid: not process_alive(pid), f"session {pid} to end on close")


def test_a_session_that_dies_is_replaced_and_the_poll_still_answers(
    tmp_path: Path, waiting: tuple[Path, Path]
) -> None:
    script, flag = waiting
    with Ledger.open(tmp_path / "ledger.sqlite") as ledger:
        ctl = local_controller(tmp_path, ledger)

        async def scenario() -> tuple[list[JobRecord], int, int]:
            jobs = await ctl.submit([SubmitItem(script, "w")], "loc", "r")
            caller = caller_of(ctl, "loc")
            jobs = await poll_until_served(ctl, jobs)
            first = must(first_session(caller)).proc.pid
            os.killpg(first, signal.SIGKILL)  # behind its back, between two polls
            await asyncio.sleep(0.2)
            jobs = await ctl.poll(jobs)  # answered one-shot
            assert jobs[0].state is JobState.RUNNING and not jobs[0].error, jobs[0]
            flag.touch()
            jobs = await poll_until_final(ctl, jobs)
            second = must(first_session(caller)).proc.pid
            await ctl.close()
            return jobs, first, second

        jobs, first, second = asyncio.run(scenario())
        assert jobs[0].state is JobState.SUCCEEDED
        assert second != first


def test_a_hung_session_times_out_says_so_and_the_next_poll_works(
    tmp_path: Path, waiting: tuple[Path, Path]
) -> None:
    script, flag = waiting
    with Ledger.open(tmp_path / "ledger.sqlite") as ledger:
        ctl = local_controller(tmp_path, ledger, command_timeout=3)

        async def scenario() -> tuple[JobRecord, JobRecord, int]:
            jobs = await ctl.submit([SubmitItem(script, "w")], "loc", "r")
            caller = caller_of(ctl, "loc")
            jobs = await poll_until_served(ctl, jobs)
            hung = must(first_session(caller)).proc.pid
            os.kill(hung, signal.SIGSTOP)
            during = (await ctl.poll(jobs))[0]
            after = (await ctl.poll([during]))[0]
            await ctl.close()
            return during, after, hung

        during, after, hung = asyncio.run(scenario())
        flag.touch()
        assert during.state is JobState.UNKNOWN  # never a failure for a silent agent
        assert during.error and "agent session on localhost timed out" in during.error
        assert after.state is JobState.RUNNING and not after.error, (after.state, after.error)
        wait_for(lambda: not process_alive(hung), "the hung session to be killed")


def test_serve_answers_requests_in_turn_and_ends_on_a_bad_one(tmp_path: Path) -> None:
    agent = build_agent(tmp_path / "agent")
    root = tmp_path / "run"
    (root / "r" / "jobs" / "1-x").mkdir(parents=True)
    (root / "r" / "jobs" / "1-x" / "job.status").write_text("JOB_EXIT=succeeded\n")
    poll_one = {"v": 1, "verb": "poll", "run_root": str(root)}
    poll_one["jobs"] = [{"job": "r/1", "dir": "r/jobs/1-x"}]  # type: ignore[assignment]
    empty = {"v": 1, "verb": "poll", "run_root": str(root), "jobs": []}
    stdin = "".join(json.dumps(x) + "\n" for x in (poll_one, empty, poll_one)) + "{not json\n"
    proc = subprocess.run(
        [sys.executable, "-S", str(agent), "--serve"],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
    )
    lines = [json.loads(x) for x in proc.stdout.splitlines()]
    ends = [i for i, line in enumerate(lines) if line.get("end")]
    assert ends == [1, 2, 4], lines  # each request closed before the next is answered
    assert [lines[i]["count"] for i in ends] == [1, 0, 1]
    assert lines[0]["status"]["exit"] == "succeeded" and lines[3]["job"] == "r/1"
    assert proc.returncode == 2 and "bad request" in proc.stderr
    done = subprocess.run(
        [sys.executable, "-S", str(agent), "--serve"], input="", capture_output=True, timeout=60
    )
    assert done.returncode == 0 and done.stdout == b""  # end of input: a quiet exit


@pytest.fixture()
def ssh_ctl(infra: Infra, tmp_path: Path) -> Any:
    require(infra, "ssh")
    name = unique_root()
    table = {
        "hosts": ["host1"],
        "transport": "ssh",
        "install_target": f"sess-{name}",
        "ssh_command": ["ssh", "-F", infra.ssh_config],
        "run_root": f"~/{name}",
    }
    platform = parse_platform("h1", table, "test")
    with Ledger.open(tmp_path / "ledger.sqlite") as ledger:
        yield Controller(tmp_path / "home", {"h1": platform}, ledger)
    subprocess.run(["rm", "-rf", str(Path(infra.hosts["host1"]["home"]) / name)], check=False)


def test_over_ssh_polls_after_the_second_open_no_new_ssh_session(
    infra: Infra, ssh_ctl: Controller, tmp_path: Path
) -> None:
    """host1's sshd starts a session per agent command: after the session is up,
    further polls start none (counted in its log, this test's lines only)."""
    log = Path(infra.data["sshd_logs"]["host1"])
    script, flag = tmp_path / "w.sh", Path(infra.hosts["host1"]["home"]) / f"go-{tmp_path.name}"
    # ends when its job dir goes too (the fixture removes the run root), flag or not
    script.write_text(f"while [ ! -e {flag} ] && [ -e job.script ]; do sleep 0.05; done\n")

    def sessions(since: int) -> int:
        with log.open("rb") as stream:
            stream.seek(since)
            text = stream.read().decode(errors="replace")
        return len(re.findall(r"Starting session: command for rjhost1 ", text))

    async def scenario() -> tuple[int, int, list[JobRecord]]:
        jobs = await ssh_ctl.submit([SubmitItem(script, f"w{i}") for i in range(3)], "h1", "r")
        for _ in range(2):
            jobs = await ssh_ctl.poll(jobs)  # one-shot, then the session starts
        mark = log.stat().st_size
        for _ in range(6):
            jobs = await ssh_ctl.poll(jobs)
        quiet = sessions(mark)
        flag.touch()
        for _ in range(400):
            jobs = await ssh_ctl.poll(jobs)
            if all(j.state.is_final for j in jobs):
                break
            await asyncio.sleep(0.05)
        after = sessions(mark)
        await ssh_ctl.close()
        return quiet, after, jobs

    try:
        quiet, after, jobs = asyncio.run(scenario())
    finally:
        flag.unlink(missing_ok=True)
    assert quiet == 0 and after == 0, (quiet, after)
    assert [j.state for j in jobs] == [JobState.SUCCEEDED] * 3
