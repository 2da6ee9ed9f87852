"""The in-process poll of a local platform (manager/local_poll.py) answers and
records exactly what the agent would: same reply lines, same states, on real
background jobs (a running one, a failed one, a succeeded one)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from cli_harness import local_cli

from jobrelay.ledger.store import Ledger
from jobrelay.manager.agentcall import AgentCaller
from jobrelay.manager.in_process import call_in_process
from jobrelay.manager.local_poll import poll_here, polls_here
from jobrelay.manager.recording import job_request
from jobrelay.platforms.config import load_config
from jobrelay.states import JobState
from jobrelay.transport.local import LocalTransport


def test_in_process_poll_matches_the_agent_and_records_the_same(tmp_path: Path) -> None:
    cli = local_cli(tmp_path)
    scripts = {}
    for name, body in (("runs", "sleep 600"), ("fails", "exit 3"), ("works", "true")):
        scripts[name] = tmp_path / f"{name}.sh"
        scripts[name].write_text(f"#!/bin/bash\n{body}\n")
    jobs = cli.json("submit", "--run", "r", *(str(p) for p in scripts.values()))
    assert [j["state"] for j in jobs] == ["submitted"] * 3
    done = [cli.job_dir(j) / "job.status" for j in jobs[1:]]
    deadline = time.monotonic() + 60
    while not all("EXIT=" in p.read_text() for p in done) and time.monotonic() < deadline:
        time.sleep(0.1)
    platform = load_config(cli.config)["localhost"]
    assert polls_here(platform)
    with Ledger.open(cli.home / "ledger.sqlite") as ledger:
        records = ledger.find(run="r")
        requests = [job_request(ledger, job) for job in records]
        here = call_in_process(platform, "localhost", "poll", requests)
        caller = AgentCaller(platform, LocalTransport(), cli.home)
        agent = asyncio.run(caller.call("localhost", "poll", requests, timeout=60))
        assert here.complete and agent.complete
        assert here.replies == agent.replies  # the same engine, the same lines
        polled = {job.name: job for job in poll_here(ledger, platform, records)}
    assert polled["runs.sh"].state is JobState.RUNNING
    assert (polled["fails.sh"].state, polled["fails.sh"].exit_code) == (JobState.FAILED, 3)
    assert polled["works.sh"].state is JobState.SUCCEEDED
    assert polled["works.sh"].exit_time is not None  # the job's own end, from its file
    listed = {j["name"]: j["state"] for j in cli.json("list", "--run", "r")}
    assert listed == {"runs.sh": "running", "fails.sh": "failed", "works.sh": "succeeded"}
    cli.run("kill", "r/1")
