"""Fault suite: Slurm's own daemons fail under running jobs (issue 12 §5).

Real CLI, ssh to host1, agent and Slurm (cluster rjtest). These disturb
the shared cluster: each holds the disruptive lock and brings the daemon
back the way tests/infra/up.sh starts it (tests/infra/slurmctl.sh) before
letting go.

- slurmctld stopped during a poll: no job is called ended or lost for it
  (the runner cannot be asked: progress from the status files), the jobs
  ending meanwhile read their own exits, and all settle once it is back;
- slurmd killed while jobs run, and the jobs' processes with it (kill -9,
  the wrapper first): their status files say nothing of an end, so it must
  come from Slurm's accounting (the jobs' slurmstepd tells slurmctld);
  nothing reads succeeded that did not succeed.
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
from fault_harness import Markers, account, code_of, disruptive, jobs_file, key, settle
from fault_sshd import children, cmdline, slurm_over_ssh
from job_dirs import wait_for
from ssh_harness import SshCli

ROOT = Path(__file__).resolve().parent.parent
SLURMCTL = ROOT / "tests" / "infra" / "slurmctl.sh"
FINAL = ("succeeded", "failed", "killed", "lost", "submit-failed")


def slurmctl(action: str) -> None:
    subprocess.run(["bash", str(SLURMCTL), action, "rjtest"], check=True, timeout=120)


@pytest.fixture
def cli(tmp_path: Path, infra: Infra) -> Iterator[SshCli]:
    c = slurm_over_ssh(tmp_path, infra)
    yield c
    c.cleanup()


def submit_waiting(cli: SshCli, tmp: Path, marks: Markers, n: int) -> list[dict[str, str]]:
    gate = marks.gate()
    jobs = [(f"w{i}", marks.script(code_of(i), 0, gate)) for i in range(n)]
    submitted = cli.json(
        "submit", "--platform", "hpc", "--run", "d", "--jobs", str(jobs_file(tmp, jobs))
    )
    wait_for(lambda: len(marks.starts()) == n, "the jobs to run", timeout=300)
    return submitted


def test_slurmctld_stopped_during_a_poll(cli: SshCli, tmp_path: Path, marks: Markers) -> None:
    submit_waiting(cli, tmp_path, marks, 6)
    with disruptive():
        slurmctl("stop")
        try:
            blind = cli.json("poll", "--run", "d")
            assert [j["state"] for j in blind] == ["running"] * 6, blind
            (marks.dir / "go").touch()
            wait_for(lambda: len(marks.ends()) == 6, "the jobs to end")
            ended = cli.json("poll", "--run", "d")  # from their files, the runner still away
            assert all(j["state"] in ("running", "succeeded", "failed") for j in ended), ended
        finally:
            slurmctl("start")
    account(settle(cli, "d"), marks)


def kill_job_processes(slurm_ids: set[str]) -> int:
    """kill -9 every process of these jobs below their slurmstepd (the wrapper
    first): the stepd lives on and tells slurmctld how the batch script ended."""
    stepds = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        title = " ".join(cmdline(int(proc.name)))
        if title.startswith("slurmstepd: [") and title[13:].split(".")[0] in slurm_ids:
            stepds.append(int(proc.name))
    for pid in (c for s in stepds for c in children(s)):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    return len(stepds)


def test_slurmd_killed_while_jobs_run(
    cli: SshCli, tmp_path: Path, marks: Markers, infra: Infra
) -> None:
    jobs = submit_waiting(cli, tmp_path, marks, 6)
    ids = {j["runner_id"].split(";")[0] for j in jobs}
    slurmd = Path(infra.data["slurm"]["slurmd_pidfile"]["rjtest"])
    with disruptive():
        try:
            os.kill(int(slurmd.read_text()), signal.SIGKILL)
            assert kill_job_processes(ids) >= len(ids)
            # the status files say nothing of an end: Slurm does, while slurmd is down
            final = settle(cli, "d")
        finally:
            slurmctl("start-slurmd")
    account(final, marks, may_die=frozenset(key(j) for j in final))
    assert {(j["state"], j["exit_signal"]) for j in final} == {("failed", "KILL")}, final
