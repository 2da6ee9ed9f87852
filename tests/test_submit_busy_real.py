"""A submit that finds another agent submitting the same job is not a failed
submit (found by bench/soak: 83 of 10,000 jobs said `submit-failed` and ran).

A controller killed in the middle of a submit (or whose ssh master died)
leaves its agent on the host still submitting; the retry, or the restarted
controller, sends the same jobs again and finds their submit locks held.
That job may well reach the runner: it stays `submitting`, and a poll reads
what the first agent did. Real CLI, real agent, real background jobs.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from cli_harness import local_cli
from job_dirs import status_lines, wait_for

from jobrelay.engine.submit_lock import SubmitLock
from jobrelay.zipapps import build_agent


def test_a_submit_that_finds_the_job_being_submitted_leaves_it_submitting(
    tmp_path: Path,
) -> None:
    cli = local_cli(tmp_path)
    first = tmp_path / "first.sh"
    first.write_text("true\n")
    (one,) = cli.json("submit", "--run", "r", str(first))
    # the next job's dir and identity, as the ledger will make them
    prefix = one["job_dir"].split("/")[-1].split("-")[0]
    (identity,) = status_lines(cli.job_dir(one), "JOB_IDENTITY")
    ledger_id = identity.split("=", 1)[1].split("/")[0]
    busy_dir = cli.run_root / "r" / "jobs" / f"{prefix}-2-busy.sh"
    busy_dir.mkdir(parents=True)
    lock = SubmitLock(str(busy_dir))  # "the other agent", still at work
    assert lock.acquire()
    script = tmp_path / "busy.sh"
    script.write_text("echo ran\n")
    try:
        (busy,) = cli.json("submit", "--run", "r", str(script))
        assert busy["job_dir"] == f"r/jobs/{prefix}-2-busy.sh"
        assert busy["state"] == "submitting", busy  # not submit-failed: it may reach the runner
        assert "another agent is submitting" in busy["error"]
        (polled,) = cli.json("poll", busy["job"])
        assert polled["state"] == "submitting", polled
    finally:
        lock.release()
    # the other agent's work: the same submission, sent by the killed controller
    agent = build_agent(tmp_path / "agent")
    request = {
        "v": 1,
        "verb": "submit",
        "run_root": str(cli.run_root),
        "jobs": [
            {
                "job": busy["job"],
                "dir": busy["job_dir"],
                "runner": "background",
                "name": "busy.sh",
                "script": "echo ran\n",
                "identity": f"{ledger_id}/2/1",
            }
        ],
    }
    out = subprocess.run(
        [sys.executable, "-S", str(agent)],
        input=json.dumps(request).encode(),
        capture_output=True,
        timeout=120,
        check=True,
    )
    assert b'"runner_id"' in out.stdout, out
    final = wait_for(
        lambda: [j for j in cli.json("poll", busy["job"]) if j["state"] == "succeeded"],
        "the job the other agent submitted to be read",
    )
    assert final[0]["state"] == "succeeded"
    assert cli.run("logs", busy["job"]).stdout == "ran\n"
