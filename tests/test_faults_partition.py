"""Fault suite: a network partition of one host, longer than the SSH timeout
(issue 12 §5).

The host ``nshost`` is an sshd in its own network namespace (host1's
account: the same install target as ``host1``, which stays reachable).
While its link is down:
- a long-running controller (``wait``) that holds a connection and an
  agent session there keeps waiting, its jobs ``unknown``, never failed;
- a new submit to the platform goes to host1 (the other host takes over;
  the install target is one, so no install is repeated);
- the background jobs there, bound to nshost, end unheard and read
  ``unknown``, never failed or lost; a kill of one is not verified and says
  so, naming the job (exit 1).
After the heal every job is accounted for by its markers, the waiter too.
(Slurm jobs cannot go through nshost: inside the namespace the cluster's
controller at 127.0.0.1 is out of reach. Slurm's own faults and batch
failover: test_faults_slurm_daemons.py, test_ssh_failover.py.)
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import Infra, require, require_that
from fault_harness import Markers, account, code_of, jobs_file, settle
from fault_netns import NetnsHost
from job_dirs import wait_for
from ssh_harness import SshCli, ssh_platform, unique_root


@pytest.fixture
def nshost(tmp_path: Path, infra: Infra) -> Iterator[NetnsHost]:
    require(infra, "ssh")
    require_that(
        subprocess.run(["ip", "netns", "list"], check=False).returncode == 0, "no ip netns"
    )
    host = NetnsHost(infra, tmp_path / "netns")
    try:
        host.up()
        yield host
    finally:
        host.down()


@pytest.fixture
def cli(tmp_path: Path, infra: Infra, nshost: NetnsHost) -> Iterator[SshCli]:
    root = unique_root()
    both = ["nshost", "host1"]
    ssh = ["ssh", "-F", str(nshost.ssh_config), "-oConnectTimeout=3",
           "-oServerAliveInterval=1", "-oServerAliveCountMax=2"]  # fmt: skip
    keys = {"ssh_command": ssh, "command_timeout": 10, "bad_host_ttl": 600}
    toml = ssh_platform("bg", both, "t1", infra, f"~/{root}", **keys)
    c = SshCli(tmp_path, infra, toml, root)
    yield c
    c.cleanup()


def submit(cli: SshCli, tmp: Path, platform: str, jobs: list[tuple[str, str]]) -> list[dict]:
    listing = jobs_file(tmp, jobs, platform + str(len(jobs)) + jobs[0][0])
    return cli.json("submit", "--platform", platform, "--run", "n", "--jobs", str(listing))


def test_partition_longer_than_the_ssh_timeout(
    cli: SshCli, tmp_path: Path, nshost: NetnsHost, marks: Markers
) -> None:
    gate = marks.gate()
    bg = submit(
        cli, tmp_path, "bg", [(f"b{i}", marks.script(code_of(i), 0, gate)) for i in range(6)]
    )
    assert {j["host"] for j in bg} == {"nshost"}, bg
    wait_for(lambda: len(marks.starts()) == 6, "the jobs to run")
    waiter = subprocess.Popen(
        cli.argv("wait", *[j["job"] for j in bg], "--timeout", "600", "--json"),
        env=cli.env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    wait_for(lambda: cli.json("list", "--run", "n")[0]["state"] == "running", "wait's first poll")
    nshost.cut()
    try:
        more = submit(cli, tmp_path, "bg", [(f"t{i}", marks.script(code_of(i))) for i in range(3)])
        assert {j["host"] for j in more} == {"host1"}, more  # the other host took over
        (marks.dir / "go").touch()  # the cut-off jobs end, unheard
        wait_for(lambda: len(marks.ends()) == 6 + 3, "the jobs to end")
        polled = {j["job"]: j for j in cli.json("poll", "--run", "n")}
        assert all(polled[j["job"]]["state"] == "unknown" for j in bg), polled
        proc = cli.run("kill", bg[0]["job"], "--json", check=False)
        assert proc.returncode == 1 and bg[0]["job"] in proc.stderr, proc
        assert waiter.poll() is None, waiter.communicate()  # still waiting: nothing failed
    finally:
        nshost.heal()
    out, err = waiter.communicate(timeout=300)
    assert waiter.returncode == 1, (out, err)  # some jobs failed, by their own exit
    account(settle(cli, "n"), marks)
