"""The in-process kill of local jobs (manager/local_kill.py, what a one-shot
``jobrelay kill`` of local jobs runs) kills, verifies and records what the
controller's kill does. Real background jobs: each killed job's processes
must be gone, a job that ended by itself must keep its own end."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

from cli_harness import local_cli

from jobrelay.ledger.records import JobRecord
from jobrelay.ledger.store import Ledger
from jobrelay.manager.controller import Controller
from jobrelay.manager.local_kill import kill_here
from jobrelay.manager.local_poll import poll_here
from jobrelay.manager.local_submit import submit_here
from jobrelay.manager.submit_item import SubmitItem
from jobrelay.platforms.config import load_config
from jobrelay.platforms.model import Platform
from jobrelay.states import JobState


def alive(job: JobRecord) -> bool:
    pid = int((job.runner_id or "0:").split(":")[0])
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as stat:  # a zombie is gone too
        return stat.read().rsplit(")", 1)[1].split()[0] != "Z"


def cmdline(pid: int) -> list[str] | None:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as raw:
            return raw.read().decode(errors="replace").split("\0")[:-1]
    except OSError:
        return None


def submitted(
    ledger: Ledger, platform: Platform, tmp: Path, run: str, home: Path
) -> list[JobRecord]:
    sleeps = tmp / "sleeps.sh"
    sleeps.write_text("#!/bin/bash\nsleep 600\n")
    traps = tmp / "traps.sh"  # ignores TERM: only KILL ends it
    traps.write_text("#!/bin/bash\ntrap '' TERM\nsleep 600 & wait; sleep 600\n")
    ends = tmp / "ends.sh"
    ends.write_text("#!/bin/bash\nexit 0\n")
    items = [SubmitItem(sleeps, "sleeps"), SubmitItem(traps, "traps"), SubmitItem(ends, "ends")]
    jobs = submit_here(ledger, platform, items, run, str(home))
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # every one started; `ends` has recorded its end
        jobs = poll_here(ledger, platform, jobs)
        states = [j.state for j in jobs]
        if states == [JobState.RUNNING, JobState.RUNNING, JobState.SUCCEEDED]:
            return jobs
        time.sleep(0.1)
    raise AssertionError(f"jobs did not start: {jobs}")


def test_in_process_kill_verifies_and_records_what_the_controller_does(tmp_path: Path) -> None:
    cli = local_cli(tmp_path, "kill_grace = 1\n")
    platform = load_config(cli.config)["localhost"]
    with Ledger.open(cli.home / "ledger.sqlite") as ledger:
        here_jobs = submitted(ledger, platform, tmp_path, "here", cli.home)
        agent_jobs = submitted(ledger, platform, tmp_path, "agent", cli.home)
        here_details: dict[int, str] = {}
        here = kill_here(ledger, {"localhost": platform}, here_jobs, str(cli.home), here_details)
        controller = Controller(cli.home, {"localhost": platform}, ledger)

        async def go() -> list[JobRecord]:
            try:
                return await controller.kill(agent_jobs)
            finally:
                await controller.close()

        agent = asyncio.run(go())
        assert [j.id for j in here] == [j.id for j in here_jobs[:2]]  # the final one not asked
        assert [j.id for j in agent] == [j.id for j in agent_jobs[:2]]
        here = [ledger.get(j.id) for j in here_jobs]
        agent = [ledger.get(j.id) for j in agent_jobs]
    for mine, theirs in zip(here, agent, strict=True):
        assert (mine.state, mine.exit) == (theirs.state, theirs.exit), (mine, theirs)
        assert not alive(mine) and not alive(theirs)
    assert [j.state for j in here] == [JobState.KILLED, JobState.KILLED, JobState.SUCCEEDED]
    assert here[1].exit == "SIGKILL"  # TERM ignored: killed after the grace
    # the engine's word on each killed job, as the controller keeps it; none for the ended one
    assert set(here_details) == {here[0].id, here[1].id}
    assert {j.id for j in agent if j.id in controller.kill_details} == {agent[0].id, agent[1].id}


def test_a_kill_goes_on_when_its_command_is_sigkilled_in_the_grace(tmp_path: Path) -> None:
    """The engine's kill runs in a child of its own session (in_process
    ``call_detached``), as an agent outlives its controller: the command dies
    during the grace, and the TERM-proof job still gets its KILL."""
    import signal
    import subprocess

    cli = local_cli(tmp_path, "kill_grace = 4\n")
    traps = tmp_path / "traps.sh"
    traps.write_text("#!/bin/bash\ntrap '' TERM\nsleep 600 & wait; sleep 600\n")
    [job] = cli.json("submit", str(traps))
    status = cli.job_dir(job) / "job.status"
    deadline = time.monotonic() + 30
    while "JOB_START_TIME=" not in status.read_text() and time.monotonic() < deadline:
        time.sleep(0.05)
    record = JobRecord.__new__(JobRecord)  # only its runner id is read by `alive`
    object.__setattr__(record, "runner_id", job["runner_id"])
    assert alive(record)
    proc = subprocess.Popen(cli.argv("kill", job["job"]), env=cli.env())
    time.sleep(1.0)  # TERM sent, the grace running
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    # the child goes on (the grace has seconds to run), holding none of the
    # command's streams: a reader of the command's output sees it end now
    children = [
        int(pid)
        for pid in os.listdir("/proc")
        if pid.isdigit() and int(pid) != proc.pid and cmdline(int(pid)) == proc.args
    ]
    assert children, "no engine child carries on the kill"
    for child in children:
        assert [os.readlink(f"/proc/{child}/fd/{fd}") for fd in (0, 1, 2)] == [os.devnull] * 3
    deadline = time.monotonic() + 30
    while alive(record) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not alive(record), "the job outlived the kill of a dead command"
    while "JOB_EXIT=" not in status.read_text() and time.monotonic() < deadline:
        time.sleep(0.05)  # recorded by the child once it has seen the job gone
    text = status.read_text()
    assert "JOB_EXIT_SIGNAL=KILL" in text and "JOB_EXIT_BY=agent" in text, text


def test_a_detached_call_that_ended_early_is_an_incomplete_reply() -> None:
    from jobrelay.engine.protocol import JobReply
    from jobrelay.manager.in_process import _reply_of

    line = JobReply(job="r/1", dir="r/jobs/x-1-a", verb="kill", kill_detail="TERM sent").to_json()
    early = _reply_of("localhost", f"R {line}\n")
    assert not early.complete and early.error and "ended before its answer" in early.error
    assert early.replies["r/1"].kill_detail == "TERM sent"  # what it said is kept
    whole = _reply_of("localhost", f"R {line}\nE \n")
    assert whole.complete and whole.error is None
    trouble = _reply_of("localhost", 'T {"error": "no run root", "unreachable": true}\n')
    assert trouble.unreachable and trouble.error == "no run root"
