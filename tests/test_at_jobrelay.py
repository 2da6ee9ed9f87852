"""Issue 5 acceptance for ``at``: the real CLI, local transport, the real atd.

Jobs are at jobs of the user running the tests. No timed assertions: waits
are generous deadline loops.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any, Callable, Dict

import pytest
from cli_harness import Cli, local_cli
from conftest import Infra, require

from jobrelay.status.reader import read_status_file

DEADLINE = 120.0


@pytest.fixture()
def cli(infra: Infra, tmp_path: Path) -> Cli:
    require(infra, "at")
    return local_cli(tmp_path, 'runner = "at"\n')


def wait_for(check: Callable[[], bool], what: str) -> None:
    end = time.monotonic() + DEADLINE
    while not check():
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.3)


def poll(cli: Cli) -> Dict[str, Dict[str, Any]]:
    return {j["name"]: j for j in cli.json("poll")}


def test_submit_poll_kill_and_a_job_that_ends_between_polls(cli: Cli, tmp_path: Path) -> None:
    gate = tmp_path / "gate"
    ok = tmp_path / "ok.sh"
    ok.write_text("#!/bin/bash\necho at-ok\n")
    late = tmp_path / "late.sh"
    # waits for its gate, ten minutes at most (a failed test leaves no job for ever)
    wait = f"for _ in $(seq 3000); do [ -e {gate} ] && break; sleep 0.2; done"
    late.write_text(f"#!/bin/bash\n{wait}\nexit 5\n")
    long = tmp_path / "long.sh"
    long.write_text("#!/bin/bash\nsleep 600 & wait\n")
    jobs = cli.json("submit", str(ok), str(late), str(long))
    assert [j["state"] for j in jobs] == ["submitted"] * 3
    assert all(j["runner"] == "at" and j["runner_id"] for j in jobs)
    by_name = {j["name"]: j for j in jobs}

    # the quick one ends; the other two run
    def settled() -> bool:
        now = poll(cli)
        return (
            now["ok.sh"]["state"] == "succeeded"
            and now["late.sh"]["state"] == "running"
            and now["long.sh"]["state"] == "running"
        )

    wait_for(settled, "ok.sh done, late.sh and long.sh running")
    assert (cli.job_dir(by_name["ok.sh"]) / "job.out").read_text() == "at-ok\n"

    # late.sh ends between two polls: atq forgets it, the status file has the exit
    gate.touch()
    status = cli.job_dir(by_name["late.sh"]) / "job.status"
    wait_for(lambda: read_status_file(str(status)).finished, "late.sh to record its exit")
    wait_for(lambda: poll(cli)["late.sh"]["state"] != "running", "late.sh to leave running")
    now = poll(cli)
    assert (now["late.sh"]["state"], now["late.sh"]["exit_code"]) == ("failed", 5)

    # kill the running one: its whole process group goes
    pid = read_status_file(str(cli.job_dir(by_name["long.sh"]) / "job.status")).pid
    assert pid is not None
    (killed,) = cli.json("kill", by_name["long.sh"]["job"])
    assert killed["job"] == by_name["long.sh"]["job"]
    wait_for(lambda: poll(cli)["long.sh"]["state"] == "killed", "long.sh killed")
    wait_for(lambda: not os.path.exists(f"/proc/{pid}"), "the wrapper to be gone")
    assert poll(cli)["long.sh"]["state"] == "killed"
