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
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import Infra, require
from fault_harness import Markers, account, code_of, jobs_file, settle
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
def fault_cli(
    tmp_path: Path, infra: Infra, sshd: PrivateSshd, hold: ReplyHold
) -> Iterator[Callable[[list[str]], SshCli]]:
    """Makes the CLI of platform ``f`` over ``hosts``; cleans up after the test."""
    made: list[SshCli] = []

    def make(hosts: list[str]) -> SshCli:
        root = unique_root()
        toml = ssh_platform(
            "f", hosts, "t1", infra, f"~/{root}", max_batch=5, python=[str(hold.hook)],
            ssh_command=["ssh", "-F", str(sshd.ssh_config), "-oConnectTimeout=5"],
            submit_retry_budget=3, bad_host_ttl=5,
        )  # fmt: skip
        made.append(SshCli(tmp_path, infra, toml, root))
        return made[-1]

    yield make
    for cli in made:
        cli.cleanup()


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


def held(
    cli: SshCli, hold: ReplyHold, damage: Callable[[int], None], *args: str
) -> list[dict[str, Any]]:
    """Run a CLI command; once the host did its work and the reply is held,
    do ``damage`` (given the controller's pid), then let the reply go."""
    hold.arm()
    proc = start(cli, *args)
    hold.wait_held()
    damage(proc.pid)
    hold.release()
    return finish(proc)


def test_master_killed_in_the_middle_of_a_submit_batch(
    tmp_path: Path, fault_cli: Callable[[list[str]], SshCli], hold: ReplyHold, marks: Markers
) -> None:
    cli = fault_cli(["fhost"])
    listing = str(jobs_file(tmp_path, batch(marks, 20)))
    held(cli, hold, kill_masters, "submit", "--platform", "f", "--run", "m", "--jobs", listing)
    account(settle(cli, "m"), marks)


def test_master_killed_in_the_middle_of_a_poll(
    tmp_path: Path, fault_cli: Callable[[list[str]], SshCli], hold: ReplyHold, marks: Markers
) -> None:
    cli = fault_cli(["fhost"])
    go = marks.dir / "go"
    listing = jobs_file(tmp_path, batch(marks, 12, marks.gate()))
    cli.json("submit", "--platform", "f", "--run", "p", "--jobs", str(listing))
    go.touch()  # they end while the poll is cut
    cut = held(cli, hold, kill_masters, "poll", "--run", "p")
    assert all(j["state"] != "lost" for j in cut), cut
    account(settle(cli, "p"), marks)


def test_sshd_stopped_in_the_middle_of_a_batch_other_host_takes_over(
    tmp_path: Path,
    fault_cli: Callable[[list[str]], SshCli],
    sshd: PrivateSshd,
    hold: ReplyHold,
    marks: Markers,
) -> None:
    cli = fault_cli(["fhost", "host1"])
    listing = str(jobs_file(tmp_path, batch(marks, 20)))
    stop = lambda _: sshd.stop()  # noqa: E731
    submitted = held(cli, hold, stop, "submit", "--platform", "f", "--run", "s", "--jobs", listing)
    assert {j["host"] for j in submitted} >= {"host1"}, submitted
    sshd.start()  # the background jobs it started are polled there
    account(settle(cli, "s"), marks)
