"""Fault suite: the SSH connection breaks in the middle of a batch (issue 12 §5).

Real sshd (a private one this test starts, so other sessions' tests are
not disturbed), real agent, real background jobs. The platform's ``python``
is a hook that holds the first agent reply after the host did its work:
the fault then lands at the worst moment, when jobs were submitted (or
polled) on the host and the controller has not heard so. Every case ends
with every job accounted for by the markers the jobs wrote.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import Infra, require
from fault_harness import Markers, account, code_of, jobs_file, markers, settle
from fault_sshd import PrivateSshd, ReplyHold, kill_masters
from ssh_harness import SshCli, ssh_platform, unique_root


@pytest.fixture
def sshd(tmp_path: Path, infra: Infra) -> Iterator[PrivateSshd]:
    require(infra, "ssh")
    server = PrivateSshd(infra, tmp_path / "sshd")
    server.start()
    yield server
    server.stop()


@pytest.fixture
def marks() -> Iterator[Markers]:
    with markers() as m:
        yield m


def fault_cli(
    tmp: Path, infra: Infra, sshd: PrivateSshd, hold: ReplyHold, hosts: list[str]
) -> SshCli:
    root = unique_root()
    toml = ssh_platform(
        "f", hosts, "t1", infra, f"~/{root}", max_batch=5, python=[str(hold.hook)],
        ssh_command=["ssh", "-F", str(sshd.ssh_config), "-oConnectTimeout=5"],
        submit_retry_budget=3, bad_host_ttl=5,
    )  # fmt: skip
    return SshCli(tmp, infra, toml, root)


def start(cli: SshCli, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        cli.argv(*args, "--json"), env=cli.env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip


def finish(proc: subprocess.Popen[str]) -> list[dict[str, Any]]:
    out, err = proc.communicate(timeout=300)
    assert proc.returncode in (0, 1), (proc.returncode, out, err)
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def batch(marks: Markers, n: int, gate: str = "") -> list[tuple[str, str]]:
    return [(f"j{i}", marks.script(code_of(i), 0.2, gate)) for i in range(n)]


@pytest.fixture
def hold(marks: Markers) -> ReplyHold:
    return ReplyHold(marks.dir)


def test_master_killed_in_the_middle_of_a_submit_batch(
    tmp_path: Path, infra: Infra, sshd: PrivateSshd, hold: ReplyHold, marks: Markers
) -> None:
    cli = fault_cli(tmp_path, infra, sshd, hold, ["fhost"])
    try:
        hold.arm()
        proc = start(cli, "submit", "--platform", "f", "--run", "m", "--jobs",
                     str(jobs_file(tmp_path, batch(marks, 20))))  # fmt: skip
        hold.wait_held()
        kill_masters(proc.pid)
        hold.release()
        finish(proc)
        account(settle(cli, "m"), marks)
    finally:
        cli.cleanup()


def test_master_killed_in_the_middle_of_a_poll(
    tmp_path: Path, infra: Infra, sshd: PrivateSshd, hold: ReplyHold, marks: Markers
) -> None:
    cli = fault_cli(tmp_path, infra, sshd, hold, ["fhost"])
    go = marks.dir / "go"
    try:
        listing = jobs_file(tmp_path, batch(marks, 12, f"while [ ! -e {go} ]; do sleep 0.1; done"))
        cli.json("submit", "--platform", "f", "--run", "p", "--jobs", str(listing))
        go.touch()  # they end while the poll is cut
        hold.arm()
        proc = start(cli, "poll", "--run", "p")
        hold.wait_held()
        kill_masters(proc.pid)
        hold.release()
        cut = finish(proc)
        assert all(j["state"] != "lost" for j in cut), cut
        account(settle(cli, "p"), marks)
    finally:
        cli.cleanup()


def test_sshd_stopped_in_the_middle_of_a_batch_other_host_takes_over(
    tmp_path: Path, infra: Infra, sshd: PrivateSshd, hold: ReplyHold, marks: Markers
) -> None:
    cli = fault_cli(tmp_path, infra, sshd, hold, ["fhost", "host1"])
    try:
        hold.arm()
        proc = start(cli, "submit", "--platform", "f", "--run", "s", "--jobs",
                     str(jobs_file(tmp_path, batch(marks, 20))))  # fmt: skip
        hold.wait_held()
        sshd.stop()
        hold.release()
        submitted = finish(proc)
        assert {j["host"] for j in submitted} >= {"host1"}, submitted
        sshd.start()  # the background jobs it started are polled there
        account(settle(cli, "s"), marks)
    finally:
        cli.cleanup()
