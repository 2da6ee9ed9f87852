"""A poll skips status files that have not changed since the controller read them.

Real background jobs, the real agent (a subprocess, as the local transport
runs it) and the real controller. A recorder sits between the controller and
its caller only to keep what went each way; it changes nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
from dataclasses import replace
from pathlib import Path
from typing import Iterator

import pytest
from job_dirs import live_session, wait_for

from jobrelay.engine.protocol import JobReply, JobRequest, RunnerGrant
from jobrelay.ledger.records import EventKind, JobRecord
from jobrelay.ledger.store import Ledger
from jobrelay.manager.agent_reply import AgentReply
from jobrelay.manager.agentcall import HostCaller
from jobrelay.manager.controller import Controller, SubmitItem
from jobrelay.manager.stamps import UNCHANGED_WITHOUT_READ, StatusStamps
from jobrelay.platforms.config import parse_platform
from jobrelay.runners.base import RunnerJobInfo, RunnerState
from jobrelay.runners.proc_stat import read_proc_stat
from jobrelay.states import JobState
from jobrelay.status.facts import StatusFacts
from jobrelay.zipapps import build_agent


class Recorder:
    """Pass-through around the real caller: keeps each call's requests and replies."""

    def __init__(self, inner: HostCaller) -> None:
        self.inner = inner
        self.installs = 0
        self.calls: list[tuple[str, list[JobRequest], AgentReply]] = []

    async def call(
        self,
        host: str,
        verb: str,
        jobs: list[JobRequest],
        timeout: float,
        grant: RunnerGrant | None = None,
    ) -> AgentReply:
        reply = await self.inner.call(host, verb, jobs, timeout, grant)
        self.calls.append((verb, list(jobs), reply))
        return reply

    async def close(self) -> None:
        await self.inner.close()

    def last(self) -> tuple[JobRequest, JobReply]:
        verb, jobs, reply = self.calls[-1]
        assert verb == "poll" and len(jobs) == 1
        return jobs[0], reply.replies[jobs[0].job]


def controller(tmp_path: Path, ledger: Ledger) -> tuple[Controller, Recorder]:
    table = {"hosts": ["localhost"], "transport": "local", "run_root": str(tmp_path / "run")}
    platform = parse_platform("loc", table, "test")
    ctl = Controller(tmp_path / "home", {"loc": platform}, ledger)
    recorder = Recorder(ctl.caller(platform))
    ctl._callers["loc"] = recorder  # the seam the controller itself uses for SSH-free
    return ctl, recorder


def poll(ctl: Controller, job: JobRecord) -> JobRecord:
    return asyncio.run(ctl.poll([job]))[0]


def poll_until(ctl: Controller, job: JobRecord, state: JobState) -> JobRecord:
    def check() -> JobRecord | None:
        fresh = poll(ctl, job)
        return fresh if fresh.state is state else None

    return wait_for(check, f"job {job.ref} to be {state.value}")


@pytest.fixture()
def flags(tmp_path: Path) -> Iterator[tuple[Path, Path]]:
    """Two flag files the test's job waits for; both made at the end whatever
    happens, so the job never outlives the test."""
    pair = tmp_path / "go1", tmp_path / "go2"
    yield pair
    for flag in pair:
        flag.touch()


def test_unchanged_file_is_not_sent_again_and_every_change_is(
    tmp_path: Path, flags: tuple[Path, Path]
) -> None:
    flag1, flag2 = flags
    script = tmp_path / "steps.sh"
    script.write_text(
        f"while [ ! -e {flag1} ]; do sleep 0.05; done\n"
        "jobrelay_message INFO 'step one'\n"
        f"while [ ! -e {flag2} ]; do sleep 0.05; done\n"
        "exit 0\n"
    )
    with Ledger.open(tmp_path / "ledger.sqlite") as ledger:
        ctl, rec = controller(tmp_path, ledger)
        (job,) = asyncio.run(ctl.submit([SubmitItem(script, "steps")], "loc", "r"))
        job = poll_until(ctl, job, JobState.RUNNING)
        _, first = rec.last()
        assert first.status is not None and first.stamp

        # Nothing happened: the controller sends the stamp back, the agent skips the file.
        job = poll(ctl, job)
        req, line = rec.last()
        assert req.seen == first.stamp and req.runner == "background"
        assert line.unchanged and line.status is None
        assert line.runner is not None and line.runner.state is RunnerState.RUNNING
        assert job.state is JobState.RUNNING

        # The job appends a message: the next poll reads the file again and records it.
        flag1.touch()
        wait_for(
            lambda: b"step one" in (tmp_path / "run" / job.job_dir / "job.status").read_bytes(),
            "the message",
        )
        job = poll(ctl, job)
        _, line = rec.last()
        assert not line.unchanged and line.status is not None
        assert line.status.messages[-1].text == "step one"
        assert line.stamp != first.stamp
        details = [e.detail for e in ledger.events(job.id, [EventKind.MESSAGE])]
        assert details == ["step one"]

        # And the exit is never hidden behind an old stamp.
        flag2.touch()
        job = poll_until(ctl, job, JobState.SUCCEEDED)
        assert job.exit_code == 0
        assert len(ctl.stamps) == 0  # final jobs are forgotten
        asyncio.run(ctl.close())


def test_a_runner_that_forgot_the_job_makes_the_agent_read_the_file(tmp_path: Path) -> None:
    script = tmp_path / "sleep.sh"
    script.write_text("sleep 600\n")
    with Ledger.open(tmp_path / "ledger.sqlite") as ledger:
        ctl, rec = controller(tmp_path, ledger)
        (job,) = asyncio.run(ctl.submit([SubmitItem(script, "sleeper")], "loc", "r"))
        job = poll_until(ctl, job, JobState.RUNNING)
        job = poll(ctl, job)
        assert rec.last()[1].unchanged
        # Behind jobrelay's back: the whole session dies at once, nothing is recorded.
        sid = int(str(job.runner_id).split(":")[0])

        def killed_all() -> bool:  # again until none is left: a later fork escapes a scan
            alive = live_session(sid)
            for pid in alive:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            return not alive

        wait_for(killed_all, "the kill")
        job = poll(ctl, job)
        req, line = rec.last()
        assert req.seen  # the controller still had the old stamp ...
        assert not line.unchanged  # ... but the agent read the file again
        assert line.runner is not None and line.runner.state is RunnerState.GONE
        assert line.status is not None and line.status.runner_forgot
        job = poll(ctl, job)
        assert job.state is JobState.LOST
        asyncio.run(ctl.close())


def test_agent_reads_the_file_when_the_stamp_differs_or_is_garbage(tmp_path: Path) -> None:
    """The agent alone, as the controller runs it: a wrong stamp is a full read."""
    import subprocess

    job_dir = tmp_path / "run" / "r" / "jobs" / "1-x"
    job_dir.mkdir(parents=True)
    status = job_dir / "job.status"
    me = read_proc_stat(os.getpid())  # a job the background runner sees running: this test
    assert me is not None
    runner_id = f"{os.getpid()}:{me.starttime}"
    status.write_text(f"JOB_RUNNER_NAME=background\nJOB_RUNNER_ID={runner_id}\n")
    st = os.stat(status)
    right = f"{st.st_ino}:{st.st_size}:{st.st_mtime_ns}"
    agent = build_agent(tmp_path / "agent")
    jobs = [
        {
            "job": f"r/{i}",
            "dir": "r/jobs/1-x",
            "runner": "background",
            "runner_id": runner_id,
            "seen": s,
        }
        for i, s in enumerate([right, "0:0:0", "'; rm -rf / $(id)\n", ""])
    ]
    request = {"v": 1, "verb": "poll", "run_root": str(tmp_path / "run"), "jobs": jobs}
    out = subprocess.run(
        [sys.executable, "-S", str(agent)], input=json.dumps(request).encode(), capture_output=True
    )
    lines = [json.loads(x) for x in out.stdout.decode().splitlines()]
    by_job = {line["job"]: line for line in lines if "job" in line}
    assert by_job["r/0"].get("unchanged") is True and "status" not in by_job["r/0"]
    assert by_job["r/0"]["runner"]["state"] == "running"
    for ref in ("r/1", "r/2", "r/3"):
        assert "unchanged" not in by_job[ref], ref
        assert by_job[ref]["status"]["runner_id"] == runner_id and by_job[ref]["stamp"] == right
    assert lines[-1]["end"] is True and lines[-1]["count"] == 4


def test_unchanged_without_an_earlier_read_is_an_error_not_a_guess() -> None:
    stamps = StatusStamps()
    running = RunnerJobInfo("7:7", RunnerState.RUNNING)
    line = JobReply("r/1", "r/jobs/1-x", "poll", unchanged=True, stamp="1:2:3", runner=running)
    got = stamps.resolve(1, line)
    assert got.status is None and got.error == UNCHANGED_WITHOUT_READ
    facts = StatusFacts(exists=True, runner_name="background", runner_id="7:7")
    full = JobReply("r/1", "r/jobs/1-x", "poll", stamp="1:2:3", status=facts)
    got = stamps.resolve(1, full)
    assert got.error is None and got.status is not None and got.status.runner_id == "7:7"
    got = stamps.resolve(1, line)  # now kept: the unchanged line stands for the last read
    assert got.error is None and got.status == facts and not got.unchanged
    # a stamp that is not the one kept is refused as well
    got = stamps.resolve(1, replace(line, stamp="9:9:9"))
    assert got.status is None and got.error == UNCHANGED_WITHOUT_READ
