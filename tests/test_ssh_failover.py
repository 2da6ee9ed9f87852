"""Failover over the real sshd hosts: one sshd is stopped (and restarted in finally).

host2 and host2b are two sshds on one account: one install target. Slurm
jobs are not host-bound, so their poll and kill move to host2b; background
jobs live on host2 itself, so they become ``unknown`` — never failed.
The sshd is stopped between commands (the CLI's own master connection of an
earlier process has ended by then): what a new poll meets is a refused host.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from conftest import Infra, require
from ssh_harness import SshCli, ssh_platform, sshdctl, unique_root

FINAL = ("succeeded", "failed", "killed", "lost", "submit-failed")


@pytest.fixture
def cli(tmp_path: Path, infra: Infra) -> Any:
    require(infra, "ssh")
    require(infra, "slurm")
    conf = infra.data["slurm"]["confs"]["rjtest"]
    root = unique_root()
    both = ["host2", "host2b"]
    toml = ssh_platform("bg", both, "t2", infra, f"~/{root}")
    toml += ssh_platform(
        "sl", both, "t2", infra, f"~/{root}", runner="slurm",
        runner_prefix=["env", f"SLURM_CONF={conf}"], runner_queries="unlimited",
    )  # fmt: skip
    toml += ssh_platform("only2", ["host2"], "t2", infra, f"~/{root}", submit_retry_budget=1)
    c = SshCli(tmp_path, infra, toml, root)
    yield c
    c.cleanup()


def test_host_down_poll_kill_submit_fail_over(cli: SshCli, tmp_path: Path) -> None:
    # the background jobs run while host2 is down (the test waits for them at the end:
    # ended or not by then, their host cannot be asked); the Slurm one is killed
    long = tmp_path / "long.sh"
    long.write_text("sleep 10\n")
    killed_later = tmp_path / "killed-later.sh"
    killed_later.write_text("sleep 300\n")
    short = tmp_path / "short.sh"
    short.write_text("echo done\n")
    bg = cli.json("submit", "--platform", "bg", "--run", "f", str(long), str(long))
    sl = cli.json("submit", "--platform", "sl", "--run", "f", str(killed_later), str(short))
    assert {j["host"] for j in bg + sl} == {"host2"}
    assert all(j["state"] in ("submitted", "running") for j in bg + sl), bg + sl
    sshdctl("stop", "host2")
    try:
        polled = {j["job"]: j for j in cli.json("poll", "--run", "f")}
        for job in bg:
            assert polled[job["job"]]["state"] == "unknown", polled[job["job"]]
        for job in sl:
            assert polled[job["job"]]["state"] not in ("unknown", "failed", "lost")
        bad = json.loads((cli.home / "bad-hosts.json").read_text())["hosts"]
        assert "host2" in bad
        # kill of a Slurm job goes through host2b
        proc = cli.run("kill", sl[0]["job"], "--json")
        assert json.loads(proc.stdout)["state"] not in ("unknown", "failed"), proc
        assert "unreachable" not in proc.stderr, proc.stderr
        killed = cli.json("wait", sl[0]["job"], "--timeout", "60")
        assert killed[0]["state"] == "killed", killed
        # submit fails over to host2b (host2 is remembered as bad)
        again = cli.json("submit", "--platform", "sl", "--run", "f", str(short))
        assert again[0]["host"] == "host2b" and again[0]["state"] != "submit-failed", again
        # a platform with no reachable host: retried within its budget, then submit-failed
        proc = cli.run("submit", "--platform", "only2", "--run", "f", str(short), "--json")
        none = json.loads(proc.stdout)
        assert none["state"] == "submit-failed", none
        assert "no host of platform 'only2' reachable" in proc.stderr, proc.stderr
        # the background jobs stay unknown while their host is down: never failed
        again_polled = {j["job"]: j for j in cli.json("poll", "--run", "f")}
        assert all(again_polled[j["job"]]["state"] == "unknown" for j in bg)
    finally:
        sshdctl("start", "host2")
    rest = [j["job"] for j in bg + sl[1:] + again]
    done = {j["job"]: j for j in cli.json("wait", *rest, "--timeout", "120")}
    assert all(done[r]["state"] == "succeeded" for r in rest), done
