"""Fault suite: the controller kill -9'ed in the middle of a 500-job submit
over SSH to Slurm, then restarted and polled (issue 12 §5).

Real CLI, real ssh to host1, real agent, real Slurm (cluster rjtest). The
controller is killed once a good part of the jobs reached Slurm, with
batches still in flight and others never sent. A new controller then
polls the run: every job that reached Slurm ran exactly once and reads the
exit it wrote; a job that never reached the host is `submit-failed` (it
never ran), none is `lost`, none runs twice.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import Infra
from fault_harness import Markers, account, code_of, jobs_file, settle
from fault_sshd import slurm_over_ssh
from job_dirs import wait_for
from ssh_harness import SshCli

JOBS = 500


@pytest.fixture
def cli(tmp_path: Path, infra: Infra) -> Iterator[SshCli]:
    # batches of 50; a cut submission is judged after 2 x command_timeout, which the
    # settling waits out: 10 s is still several times what a batch of 50 sbatch takes
    c = slurm_over_ssh(tmp_path, infra, max_batch=50, command_timeout=10)
    yield c
    c.cleanup()  # the jobs are trivial: settled or gone by now


def on_slurm(cli: SshCli, run: str) -> int:
    """Job dirs whose status file already holds a Slurm job id."""
    jobs = cli.host_root("host1") / run / "jobs"
    count = 0
    for status in jobs.glob("*/job.status"):
        with contextlib.suppress(OSError):
            count += b"JOB_RUNNER_ID=" in status.read_bytes()
    return count


def test_controller_killed_during_a_500_job_submit(
    cli: SshCli, tmp_path: Path, marks: Markers
) -> None:
    jobs = [(f"k{i}", marks.script(code_of(i))) for i in range(JOBS)]
    listing = jobs_file(tmp_path, jobs)
    argv = cli.argv("submit", "--platform", "hpc", "--run", "k", "--jobs", str(listing), "--json")
    proc = subprocess.Popen(argv, env=cli.env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    wait_for(lambda: on_slurm(cli, "k") >= JOBS // 4 or proc.poll() is not None, "jobs on Slurm")
    assert proc.poll() is None, "the submit ended before the kill: nothing was tested"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    listed = cli.json("list", "--run", "k")
    assert len(listed) == JOBS, len(listed)
    assert any(j["state"] == "submitting" for j in listed), "the kill came too late"
    final = settle(cli, "k")
    account(final, marks, all_ran=False)
    reached = on_slurm(cli, "k")
    assert sum(j["state"] != "submit-failed" for j in final) == reached, reached
