"""A job that ends between the agent's read of its status file and the runner's
answer is judged by the file, read a second time, not by the runner alone.

Real Slurm (cluster rjtest), the real agent run as the test user rjhost1. To
put the end exactly in that window, a runner prefix (the platform's
``runner_prefix``, here a small script) puts the job's full status file back
just before ``squeue`` runs; until then the file is what it was before the
job's last lines were written. Seen for real in the Slurm acceptance test
under load: a job that exited 0 became "failed: exit code 0 from the runner",
and a requeued job that finished its second run became "failed: signal TERM".
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any, Dict, Iterator, List

import pytest
from conftest import Infra, require
from job_dirs import user_dir, wait_for

from jobrelay.runners.base import RunnerState
from jobrelay.zipapps import build_agent

USER = "rjhost1"


@pytest.fixture()
def root(infra: Infra) -> Iterator[Path]:
    require(infra, "slurm")
    with user_dir(USER, "rj-second-look") as path:
        yield path


def agent(infra: Infra, root: Path, verb: str, jobs: List[Dict[str, Any]], **options: Any) -> Any:
    pyz = root / "agent.pyz"
    if not pyz.exists():
        built = build_agent(root / "build")
        shutil.copy(built, pyz)
        pyz.chmod(0o755)
    request = {"v": 1, "verb": verb, "run_root": str(root / "run"), "jobs": jobs}
    if options:
        request["runner_options"] = options
    conf = str(infra.data["slurm"]["conf"])
    argv = ["runuser", "-u", USER, "--", "env", f"SLURM_CONF={conf}", "/usr/bin/python3", "-S"]
    out = subprocess.run(
        [*argv, str(pyz)], input=json.dumps(request), capture_output=True, text=True, timeout=120
    )
    lines = [json.loads(line) for line in out.stdout.splitlines()]
    assert lines and lines[-1].get("end") is True, (out.stdout, out.stderr)
    return {line["job"]: line for line in lines[:-1]}


def test_a_job_that_ends_while_the_runner_is_asked_is_judged_by_its_file(
    infra: Infra, root: Path
) -> None:
    (root / "run").mkdir()
    shutil.chown(root / "run", USER, USER)
    jobs = [
        {"job": "r/1", "dir": "r/jobs/1-ok", "runner": "slurm", "name": "ok", "script": "true\n"}
    ]
    submitted = agent(infra, root, "submit", jobs)["r/1"]
    runner_id = submitted["runner_id"]
    assert runner_id and not submitted.get("error"), submitted
    status = root / "run" / "r" / "jobs" / "1-ok" / "job.status"
    ask = [{"job": "r/1", "dir": "r/jobs/1-ok"}]

    def ended() -> Any:
        line = agent(infra, root, "poll", ask)["r/1"]
        runner = line.get("runner") or {}
        done = runner.get("state") == RunnerState.DONE.value
        return line if line["status"].get("exit") and (done or not runner) else None

    wait_for(ended, "the job to end", timeout=240)
    whole = status.read_text()
    assert "JOB_EXIT=succeeded" in whole
    # The file as the first read must find it: started, no exit yet.
    before = "".join(line for line in whole.splitlines(True) if not line.startswith("JOB_EXIT"))
    saved = root / "whole.status"
    saved.write_text(whole)
    hook = root / "ends-now.sh"
    hook.write_text(f'#!/bin/bash\ncat {saved} > {status}\nexec "$@"\n')
    hook.chmod(0o755)
    for path in (saved, hook):
        shutil.chown(path, USER, USER)
    status.write_text(before)
    shutil.chown(status, USER, USER)

    line = agent(infra, root, "poll", ask, command_prefix=[str(hook)])["r/1"]
    assert status.read_text() == whole  # the hook ran: the job "ended" in the window
    assert line["runner"]["state"] == RunnerState.DONE.value, line
    assert line["status"]["exit"] == "succeeded" and line["status"]["exit_code"] == 0, line
    assert "runner_forgot" not in line["status"]  # the runner knew the job: it ended
    assert "JOB_RUNNER_FORGOT" not in status.read_text()
