"""Fault suite: two controllers polling and killing the same run at once
(issue 12 §5), on real background jobs through the real CLI and agent.

- one ledger, two processes: both kill the same jobs and both poll while
  the kills run; each killed job is killed once and reads `killed`, the
  others end with the exit they wrote (background jobs, and Slurm jobs
  through host1);
- two ledgers using one run name on one run root: each kills and polls
  only its own jobs; nothing one does reaches the other's.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cli_harness import Cli, local_cli
from conftest import Infra
from fault_harness import Markers, account, code_of, jobs_file, key, settle
from fault_sshd import slurm_over_ssh
from job_dirs import wait_for


def submit_waiting(
    cli: Cli, tmp: Path, marks: Markers, n: int, tag: str, platform: str = "localhost"
) -> list[dict[str, Any]]:
    """``n`` jobs that run until the test lets them go; returns once all run."""
    gate = marks.gate()
    jobs = [(f"{tag}{i}", marks.script(code_of(i), 0, gate)) for i in range(n)]
    listing = str(jobs_file(tmp, jobs, tag))
    submitted = cli.json("submit", "--platform", platform, "--run", "same", "--jobs", listing)
    mine = {key(j) for j in submitted}
    wait_for(lambda: mine <= set(marks.starts()), "the jobs to run", timeout=300)
    return submitted


@pytest.fixture(params=["background", "slurm"])
def one(request: pytest.FixtureRequest, tmp_path: Path, infra: Infra) -> Iterator[tuple[Cli, str]]:
    """A CLI and its platform: local background jobs, or Slurm jobs through host1."""
    if request.param == "background":
        yield local_cli(tmp_path), "localhost"
        return
    cli = slurm_over_ssh(tmp_path, infra)
    yield cli, "hpc"
    cli.cleanup()


def at_once(*calls: tuple[Cli, list[str]]) -> list[subprocess.CompletedProcess[str]]:
    """Start every CLI call, then wait for all of them."""
    procs = [
        subprocess.Popen(cli.argv(*args), env=cli.env(), stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
        for cli, args in calls
    ]  # fmt: skip
    done = []
    for proc in procs:
        out, err = proc.communicate(timeout=300)
        done.append(subprocess.CompletedProcess(proc.args, proc.returncode, out, err))
    return done


def lines(proc: subprocess.CompletedProcess[str]) -> list[dict[str, Any]]:
    return [json.loads(x) for x in proc.stdout.splitlines() if x.strip()]


def test_one_ledger_two_processes_kill_and_poll_the_same_jobs(
    tmp_path: Path, marks: Markers, one: tuple[Cli, str]
) -> None:
    cli, platform = one
    jobs = submit_waiting(cli, tmp_path, marks, 12, "j", platform)
    doomed = [j["job"] for j in jobs[::2]]
    kill = ["kill", *doomed, "--json"]
    poll = ["poll", "--run", "same", "--json"]
    results = at_once((cli, kill), (cli, poll), (cli, kill), (cli, poll))
    for proc in results:
        assert proc.returncode in (0, 1), (proc.args, proc.stdout, proc.stderr)
        assert all(j["state"] != "lost" for j in lines(proc)), proc.stdout
    for proc in (results[0], results[2]):
        said = {j["job"]: j["state"] for j in lines(proc)}
        assert said == dict.fromkeys(doomed, "killed"), (said, proc.returncode, proc.stderr)
    (marks.dir / "go").touch()
    final = settle(cli, "same")
    killed = frozenset(key(j) for j in final if j["job"] in doomed)
    account(final, marks, may_die=killed)
    assert {j["job"] for j in final if j["state"] == "killed"} == set(doomed), final


def test_two_ledgers_one_run_each_kills_and_polls_its_own(tmp_path: Path, marks: Markers) -> None:
    a = local_cli(tmp_path)
    b = Cli(home=tmp_path / "home-b", config=a.config, run_root=a.run_root)
    ja = submit_waiting(a, tmp_path, marks, 8, "a")
    jb = submit_waiting(b, tmp_path, marks, 8, "b")
    doomed_a = [j["job"] for j in ja[::2]]
    doomed_b = [j["job"] for j in jb[1::2]]
    at_once(
        (a, ["kill", *doomed_a, "--json"]),
        (b, ["kill", *doomed_b, "--json"]),
        (a, ["poll", "--run", "same", "--json"]),
        (b, ["poll", "--run", "same", "--json"]),
    )
    (marks.dir / "go").touch()
    final_a, final_b = settle(a, "same"), settle(b, "same")
    killed = frozenset(
        key(j) for j in final_a + final_b if j["job"] in (doomed_a if j in final_a else doomed_b)
    )
    account(final_a + final_b, marks, may_die=killed)
    assert [j["job"] for j in final_a if j["state"] == "killed"] == doomed_a, final_a
    assert [j["job"] for j in final_b if j["state"] == "killed"] == doomed_b, final_b
