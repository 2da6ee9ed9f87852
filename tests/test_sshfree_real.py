"""Issue 7 acceptance: jobs on a host whose key runs rsync only (jobrelay's gate).

The job host hostH (tests/infra/up.sh) keeps its run root in a mount
namespace: this process cannot see it. Jobs are submitted to Slurm cluster
rjtest2 by the local runner, whose slurmd runs inside the namespace; files
move only by rsync through the gate. Every command reaching hostH is in the
gate's log, every runner command in the count-runner log: the tests count
both exactly. Nothing is mocked.
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from cli_harness import Cli
from conftest import Infra
from sshfree_harness import SshFreeHost, run_name, sshfree_cli, sshfree_host


def wait_for(predicate: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def host(infra: Infra, tmp_path: Path) -> SshFreeHost:
    return sshfree_host(infra, tmp_path / "h")


@pytest.fixture
def cli(host: SshFreeHost, tmp_path: Path) -> Cli:
    return sshfree_cli(host, tmp_path)


def new_gate_lines(host: SshFreeHost, before: int) -> list[str]:
    return host.gate_lines()[before:]


def test_key_is_restricted_to_rsync(host: SshFreeHost) -> None:
    cfg, name = host.data["ssh_config"], host.data["host"]
    before = len(host.gate_lines())
    for argv in (["true"], ["cat", "/etc/passwd"], ["id"]):
        proc = subprocess.run(
            ["ssh", "-F", cfg, name, *argv], capture_output=True, text=True, timeout=60
        )
        assert proc.returncode == 1, (argv, proc.stdout, proc.stderr)
        assert "jobrelay-gate: refused:" in proc.stderr
        assert "root:" not in proc.stdout
    logged = new_gate_lines(host, before)
    assert len(logged) == 3, logged
    assert all(" refused: " in line for line in logged), logged


def test_fifty_jobs_ssh_free_end_offline_and_show_their_logs(
    host: SshFreeHost, cli: Cli, tmp_path: Path
) -> None:
    scripts = tmp_path / "scripts"
    scripts.mkdir()
    kinds = {
        "ok": ("echo out-$JOBRELAY_JOB_NAME\necho err-line >&2\n", "succeeded", 0),
        "exit3": ("echo three\nexit 3\n", "failed", 3),
        "exit42": ("echo forty-two\nfalse || exit 42\n", "failed", 42),
        "pipefail": ("set -e\necho before\nfalse\necho never\n", "failed", 1),
    }
    plan: list[tuple[str, str]] = []  # (script path, kind) per job, in submit order
    for i in range(50):
        kind = list(kinds)[i % len(kinds)]
        path = scripts / f"{kind}-{i:02d}.sh"
        path.write_text(kinds[kind][0])
        plan.append((str(path), kind))
    run = run_name()
    gate_before = len(host.gate_lines())
    try:
        submitted = cli.json("submit", "--platform", "hfree", "--run", run, *[p for p, _ in plan])
        assert len(submitted) == 50
        assert all(j["state"] in ("submitted", "running", "succeeded", "failed") for j in submitted)
        assert all(j["runner_id"].endswith(";" + host.data["cluster"]) for j in submitted)
        # one push for the whole batch: the only command that reached the host
        pushes = new_gate_lines(host, gate_before)
        assert len(pushes) == 1, pushes
        assert "allowed rsync" in pushes[0] and "--sender" not in pushes[0]
        sbatches = [line for line in host.runner_lines() if " sbatch " in f" {line} "]
        assert len(sbatches) == 50

        # The controller cannot see the job dirs; hostH can.
        first = submitted[0]["job_dir"]
        assert not Path(host.run_root, first).exists()
        assert host.inside("test", "-f", f"{host.run_root}/{first}/job").returncode == 0

        # No controller runs while the jobs end: watch from inside hostH only.
        dirs = [f"{host.run_root}/{j['job_dir']}/job.status" for j in submitted]

        def all_ended() -> bool:
            found = host.inside("grep", "-l", "^JOB_EXIT=", *dirs).stdout.split()
            return len(found) == 50

        wait_for(all_ended, 240, "all 50 jobs to record their exit on hostH")

        gate_before = len(host.gate_lines())
        runner_before = len(host.runner_lines())
        polled = {j["job"]: j for j in cli.json("poll", "--run", run)}
        # every job settled by its status file: one pull, no runner query at all
        pulls = new_gate_lines(host, gate_before)
        assert len(pulls) == 1 and "allowed rsync" in pulls[0] and "--sender" in pulls[0]
        assert host.runner_lines()[runner_before:] == []

        assert len(polled) == 50
        for job, (_, kind) in zip(submitted, plan, strict=True):
            got = polled[job["job"]]
            want_state, want_exit = kinds[kind][1], kinds[kind][2]
            assert (got["state"], got["exit_code"]) == (want_state, want_exit), (kind, got)
            assert got["host"] == host.data["host"]

        # logs come back by rsync, through the gate
        for job, (_, kind) in list(zip(submitted, plan, strict=True))[:4]:
            out = cli.run("logs", job["job"])
            assert out.returncode == 0, out.stderr
            if kind == "ok":
                assert out.stdout == f"out-{job['name']}\n"
                err = cli.run("logs", job["job"], "--err")
                assert err.stdout == "err-line\n"
            elif kind == "exit3":
                assert out.stdout == "three\n"
            elif kind == "pipefail":
                assert out.stdout == "before\n"
        everything = new_gate_lines(host, gate_before)
        assert everything and all("allowed rsync" in line for line in everything), everything
    finally:
        host.inside("rm", "-rf", f"{host.run_root}/{run}")


def test_poll_cycle_is_one_rsync_and_one_squeue_and_kill_works(
    host: SshFreeHost, cli: Cli, tmp_path: Path
) -> None:
    script = tmp_path / "long.sh"
    script.write_text("echo started\nsleep 300\n")
    run = run_name()
    refs: list[str] = []
    try:
        jobs = cli.json("submit", "--platform", "hfree", "--run", run, *[str(script)] * 4)
        refs = [j["job"] for j in jobs]

        def all_running() -> bool:
            return all(j["state"] == "running" for j in cli.json("poll", "--run", run))

        wait_for(all_running, 120, "the 4 jobs to run")

        gate_before = len(host.gate_lines())
        runner_before = len(host.runner_lines())
        polled = cli.json("poll", "--run", run)
        assert [j["state"] for j in polled] == ["running"] * 4
        cycle = new_gate_lines(host, gate_before)
        assert len(cycle) == 1, cycle  # exactly one ssh session reached the host: one rsync pull
        assert "allowed rsync" in cycle[0] and "--files-from=-" in cycle[0]
        commands = host.runner_lines()[runner_before:]
        assert len(commands) == 1, commands  # exactly one runner query
        assert " squeue " in f" {commands[0]} " and "--clusters=" in commands[0]

        # kill two: the local scancel, never a command on the host
        gate_before = len(host.gate_lines())
        runner_before = len(host.runner_lines())
        killed = cli.json("kill", *refs[:2])
        assert len(killed) == 2
        commands = host.runner_lines()[runner_before:]
        assert len(commands) == 1 and " scancel " in f" {commands[0]} ", commands
        assert all("allowed rsync" in line for line in new_gate_lines(host, gate_before))

        def two_killed() -> bool:
            states = {j["job"]: j["state"] for j in cli.json("poll", "--run", run)}
            return all(states[r] == "killed" for r in refs[:2])

        wait_for(two_killed, 120, "the killed jobs to be reported killed")
        final = {j["job"]: j for j in cli.json("list", "--run", run)}
        assert [final[r]["state"] for r in refs[2:]] == ["running", "running"]
        assert all(final[r]["exit_signal"] == "TERM" for r in refs[:2]), final
        assert cli.run("logs", refs[0]).stdout == "started\n"
    finally:
        if refs:
            cli.run("kill", *refs, check=False)
        host.inside("rm", "-rf", f"{host.run_root}/{run}")


def test_controller_sees_nothing_of_the_host(host: SshFreeHost) -> None:
    """The premise of the tests above: the run root is hostH's alone."""
    root = host.run_root
    assert not os.path.ismount(root)
    assert host.inside("findmnt", "-n", root).returncode == 0
