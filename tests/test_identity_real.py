"""Issue 12 item 1, the issue's own reproduction on the real components: two
ledgers (two JOBRELAY_HOMEs) submit to the same run name on the same host,
over ssh (background jobs on host1, through the agent) and SSH-free (Slurm on
hostH, through the gate). The second ledger's job runs, and reports its own
output, never the first's; `tidy` of one ledger leaves the other's job dirs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, Iterator, Tuple

import pytest
from cli_harness import Cli
from conftest import Infra, require
from ssh_harness import SshCli, ssh_platform, unique_root
from sshfree_harness import SshFreeHost, run_name, sshfree_cli, sshfree_host


def other_ledger(cli: Cli, tmp: Path) -> Cli:
    """The same platforms and run root, another JOBRELAY_HOME: another ledger."""
    if isinstance(cli, SshCli):
        (tmp / "b").mkdir()
        other = SshCli(tmp / "b", cli.infra, cli.config.read_text(), cli.root_name)
        other.home = tmp / "home-b"
        return other
    return Cli(home=tmp / "home-b", config=cli.config, run_root=cli.run_root)


Job = Dict[str, Any]


def reproduce(a: Cli, b: Cli, tmp: Path, platform: str, run: str) -> Tuple[Job, Job]:
    """The issue's steps: A submits --wait, the script changes, B submits --wait."""
    script = tmp / "job.sh"
    script.write_text("echo first\n")
    (ja,) = a.json("submit", "--platform", platform, "--run", run, "--wait", str(script))
    script.write_text("echo second\n")
    (jb,) = b.json("submit", "--platform", platform, "--run", run, "--wait", str(script))
    assert (ja["state"], jb["state"]) == ("succeeded", "succeeded"), (ja, jb)
    assert ja["job"] == jb["job"]  # the same reference in each ledger ...
    assert ja["job_dir"] != jb["job_dir"]  # ... never the same job dir
    assert a.run("logs", ja["job"]).stdout == "first\n"
    assert b.run("logs", jb["job"]).stdout == "second\n"  # it ran, and this is its output
    return ja, jb


@pytest.fixture
def ssh_cli(infra: Infra, tmp_path: Path) -> Iterator[SshCli]:
    require(infra, "ssh")
    root = unique_root()
    toml = ssh_platform("h1", ["host1"], "h1", infra, f"~/{root}", runner="background")
    cli = SshCli(tmp_path, infra, toml, root)
    try:
        yield cli
    finally:
        cli.cleanup()


def test_two_ledgers_one_run_over_ssh_each_run_their_own_and_tidy_keeps_the_other(
    ssh_cli: SshCli, tmp_path: Path
) -> None:
    a, b = ssh_cli, other_ledger(ssh_cli, tmp_path)
    ja, jb = reproduce(a, b, tmp_path, "h1", "r")
    dir_a, dir_b = a.host_job_dir("host1", ja), a.host_job_dir("host1", jb)
    assert dir_a.is_dir() and dir_b.is_dir()
    # A's tidy removes A's jobs only: B's job dir and its output stay
    tidied = a.run("tidy", "--run", "r")
    assert tidied.returncode == 0, tidied.stderr
    assert "other ledgers' jobs are in it" in tidied.stdout + tidied.stderr
    assert not dir_a.exists() and dir_b.is_dir()
    assert b.run("logs", jb["job"]).stdout == "second\n"
    # B's tidy, the last ledger with jobs there, removes the run
    assert b.run("tidy", "--run", "r").returncode == 0
    assert not dir_b.exists() and not (ssh_cli.host_root("host1") / "r").exists()


@pytest.fixture
def free(infra: Infra, tmp_path: Path) -> Iterator[tuple[SshFreeHost, Cli, str]]:
    require(infra, "sshfree")
    host = sshfree_host(infra, tmp_path / "h")
    cli = sshfree_cli(host, tmp_path)
    run = run_name()
    try:
        yield host, cli, run
    finally:
        host.inside("rm", "-rf", f"{host.run_root}/{run}")


def test_two_ledgers_one_run_ssh_free_each_run_their_own(
    free: tuple[SshFreeHost, Cli, str], tmp_path: Path
) -> None:
    host, a, run = free
    b = other_ledger(a, tmp_path)
    ja, jb = reproduce(a, b, tmp_path, "hfree", run)
    # both job dirs are on the host, each with its own submission's identity
    for job in (ja, jb):
        listed = host.inside(
            "grep", "-h", "^JOB_IDENTITY=", f"{host.run_root}/{job['job_dir']}/job.status"
        )
        assert listed.returncode == 0 and listed.stdout.count("JOB_IDENTITY=") == 1, listed
    ids = {
        host.inside(
            "grep", "-h", "^JOB_IDENTITY=", f"{host.run_root}/{j['job_dir']}/job.status"
        ).stdout
        for j in (ja, jb)
    }
    assert len(ids) == 2  # two submissions, two identities
