"""AtRunner against the real atd of the test infrastructure (as user rjhost1).

No timed assertions: waits are generous deadline loops.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Callable, Iterator, List

import pytest
from conftest import Infra, require
from job_dirs import user_dir

from jobrelay.processes import run_command
from jobrelay.runners.at import AtRunner
from jobrelay.runners.base import KillTarget, RunnerOptions, RunnerState, SubmitRequest

USER = "rjhost1"
DEADLINE = 120.0


@pytest.fixture()
def at_runner(infra: Infra) -> AtRunner:
    require(infra, "at")
    return AtRunner(RunnerOptions(command_prefix=("runuser", "-u", USER, "--"), kill_grace=3.0))


@pytest.fixture()
def jobs_root() -> Iterator[Path]:
    with user_dir(USER, "rj-at-tests") as root:
        yield root


def make_job(root: Path, name: str, body: str) -> SubmitRequest:
    job_dir = root / name
    job_dir.mkdir()
    script = f"#!/bin/bash\necho $$ > {job_dir}/pid\n{body}\n"
    (job_dir / "job").write_text(script)
    shutil.chown(job_dir, USER, USER)
    shutil.chown(job_dir / "job", USER, USER)
    return SubmitRequest(str(job_dir), str(job_dir / "job"), script)


def wait_for(check: Callable[[], bool]) -> bool:
    end = time.monotonic() + DEADLINE
    while not check():
        if time.monotonic() > end:
            return False
        time.sleep(0.3)
    return True


def group_members(pgid: int) -> List[int]:
    """Live (non-zombie) processes in group ``pgid``."""
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            members.append(int(stat.parent.name))
    return members


def test_submit_poll_and_output_redirected(at_runner: AtRunner, jobs_root: Path) -> None:
    jobs = [make_job(jobs_root, f"j{n}", f"echo out{n}; echo err{n} >&2") for n in range(3)]
    outcomes = at_runner.submit(jobs, run_command)
    ids = [str(o.runner_id) for o in outcomes]
    assert all(o.runner_id for o in outcomes) and len(set(ids)) == 3
    assert wait_for(
        lambda: all(
            s.state is RunnerState.GONE for s in at_runner.poll(ids, run_command).jobs.values()
        )
    )
    for n, job in enumerate(jobs):
        assert Path(job.job_dir, "job.out").read_text() == f"out{n}\n"
        assert Path(job.job_dir, "job.err").read_text() == f"err{n}\n"


def test_kill_running_job_ends_its_whole_group(at_runner: AtRunner, jobs_root: Path) -> None:
    job = make_job(jobs_root, "long", "sleep 600 & sleep 600 & wait")
    (rid,) = [o.runner_id for o in at_runner.submit([job], run_command)]
    assert rid is not None
    pid_file = Path(job.job_dir, "pid")
    assert wait_for(lambda: pid_file.exists() and pid_file.read_text().strip() != "")
    pid = int(pid_file.read_text())
    assert wait_for(lambda: len(group_members(pid)) >= 3)  # bash and its two sleeps
    assert at_runner.poll([rid], run_command).jobs[rid].state is RunnerState.RUNNING
    (outcome,) = at_runner.kill([KillTarget(rid, pid, job.job_dir)], run_command)
    assert outcome.ok, outcome.detail
    assert wait_for(lambda: group_members(pid) == [])
    assert wait_for(lambda: at_runner.poll([rid], run_command).jobs[rid].state is RunnerState.GONE)


def test_kill_pending_job_removes_it(at_runner: AtRunner, jobs_root: Path) -> None:
    job = make_job(jobs_root, "pend", "true")
    result = run_command(
        ["runuser", "-u", USER, "--", "at", "-M", "now", "+", "2", "hours"],
        stdin=f"bash {job.job_file}\n",
    )
    rid = result.stderr.split("job ", 1)[1].split()[0]
    assert at_runner.poll([rid], run_command).jobs[rid].state is RunnerState.PENDING
    (outcome,) = at_runner.kill([KillTarget(rid, None, job.job_dir)], run_command)
    assert outcome.ok and "removed" in outcome.detail
    assert at_runner.poll([rid], run_command).jobs[rid].state is RunnerState.GONE


def test_job_ending_between_polls_is_gone(at_runner: AtRunner, jobs_root: Path) -> None:
    # waits for its flag, ten minutes at most (a failed test leaves no job for ever)
    wait = f"for _ in $(seq 3000); do [ -e {jobs_root}/short/go ] && break; sleep 0.2; done"
    job = make_job(jobs_root, "short", wait)
    (rid,) = [o.runner_id for o in at_runner.submit([job], run_command)]
    assert rid is not None
    assert wait_for(
        lambda: at_runner.poll([rid], run_command).jobs[rid].state is RunnerState.RUNNING
    )
    go = jobs_root / "short" / "go"
    go.touch()
    assert wait_for(lambda: at_runner.poll([rid], run_command).jobs[rid].state is RunnerState.GONE)
    # killing it now is "already gone", not a failure
    (outcome,) = at_runner.kill([KillTarget(rid, None, job.job_dir)], run_command)
    assert outcome.ok and outcome.detail == "already gone"
