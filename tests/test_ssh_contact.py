"""The run contact file, checked on another host over real ssh.

The contact file names host1 (another sshd of this machine, so the same
/proc): the check runs ``cat /proc/<pid>/stat`` there as rjhost1 and
compares the process start time, so a reused pid is not taken for the
holder.
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from conftest import Infra, require
from ssh_harness import SshCli, ssh_platform, unique_root

from jobrelay.manager.contact import contact_path, local_start_time


@pytest.fixture
def cli(tmp_path: Path, infra: Infra) -> Any:
    require(infra, "ssh")
    root = unique_root()
    c = SshCli(tmp_path, infra, ssh_platform("one", ["host1"], "t1", infra, f"~/{root}"), root)
    c.extra_env["JOBRELAY_SSH_COMMAND"] = f"ssh -F {infra.ssh_config} -oConnectTimeout=5"
    yield c
    c.cleanup()


def write_contact(cli: SshCli, host: str, pid: int, start: str | None) -> Path:
    """A contact file for run c, which gets a job (`watch --run` needs one)."""
    if not any(j["run"] == "c" for j in cli.json("list")):
        script = cli.home.parent / "quick.sh"
        script.write_text("true\n")
        cli.json("submit", "--platform", "one", "--run", "c", str(script))
    path = contact_path(cli.home, "c")
    path.parent.mkdir(parents=True, exist_ok=True)
    data = {
        "host": host,
        "pid": pid,
        "start_time": start,
        "argv": ["jobrelay", "watch"],
        "run": "c",
    }
    path.write_text(json.dumps(data))
    return path


def test_live_holder_on_another_host_stops_the_new_controller(cli: SshCli) -> None:
    holder = subprocess.Popen(["sleep", "300"])
    try:
        path = write_contact(cli, "host1", holder.pid, local_start_time(holder.pid))
        proc = cli.run("watch", "--run", "c", "--interval", "0.1", check=False)
        assert proc.returncode == 2, proc
        assert f"held by a live controller: pid {holder.pid} on host1" in proc.stderr
        assert path.exists()
    finally:
        holder.kill()
        holder.wait()


def test_reused_pid_and_dead_pid_are_stale(cli: SshCli) -> None:
    holder = subprocess.Popen(["sleep", "300"])
    try:
        # same pid, other start time: the pid was reused, the holder is gone
        path = write_contact(cli, "host1", holder.pid, "1")
        proc = cli.run("watch", "--run", "c", "--interval", "0.1", check=False)
        assert proc.returncode == 0, proc
        assert f"removed stale contact file {path}" in proc.stderr
        assert not path.exists()  # ours was removed on exit too
    finally:
        holder.kill()
        holder.wait()
    path = write_contact(cli, "host1", holder.pid, local_start_time(holder.pid) or "5")
    proc = cli.run("watch", "--run", "c", "--interval", "0.1", check=False)
    assert proc.returncode == 0 and "removed stale contact file" in proc.stderr, proc


def test_unreachable_holder_host_is_not_taken_for_dead(cli: SshCli) -> None:
    cli.extra_env["JOBRELAY_SSH_COMMAND"] = "ssh -oBatchMode=yes -oHostName=127.0.0.9 -oPort=1"
    path = write_contact(cli, "host1", 1, "1")
    proc = cli.run("watch", "--run", "c", "--interval", "0.1", check=False)
    assert proc.returncode == 2 and "cannot be checked" in proc.stderr, proc
    assert path.exists()


def test_wait_holds_the_contact_file_while_it_runs(cli: SshCli, tmp_path: Path) -> None:
    script = tmp_path / "s.sh"
    script.write_text("sleep 300\n")  # ended by the kill below, not by a clock
    job = cli.json("submit", "--platform", "one", "--run", "c", str(script))[0]
    waiter = subprocess.Popen(cli.argv("wait", job["job"]), env=cli.env(), text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip
    path = contact_path(cli.home, "c")
    try:
        deadline = time.monotonic() + 30
        while not path.exists() and waiter.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        held = json.loads(path.read_text())
        assert held["pid"] == waiter.pid and held["argv"][-1] == job["job"]
        second = cli.run("wait", job["job"], check=False)
        assert second.returncode == 2 and "held by a live controller" in second.stderr
    finally:
        killed = cli.run("kill", job["job"], check=False)
        _out, err = waiter.communicate(timeout=120)
    assert killed.returncode == 0, killed.stderr
    assert waiter.returncode == 1, err  # the job it waited for was killed
    assert not path.exists()
