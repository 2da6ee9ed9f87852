"""What a new user hit trying the CLI on the localhost platform (issue 14,
second pass): each test runs the real `jobrelay` in a subprocess and checks
what it says and its exit code against docs/cli.md. No timing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cli_harness import Cli, local_cli


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    return local_cli(tmp_path)


def script(tmp: Path, name: str, body: str = "true") -> str:
    path = tmp / name
    path.write_text("#!/bin/bash\n" + body + "\n")
    return str(path)


def test_submit_reports_unreadable_scripts_with_every_other_problem(
    cli: Cli, tmp_path: Path
) -> None:
    """docs/cli.md: every job is checked before anything is submitted and the
    problems are reported all at once, naming the job; a missing script was
    reported alone, after the others were fixed, without its --jobs line."""
    ok = script(tmp_path, "ok.sh")
    jobs = tmp_path / "jobs.jsonl"
    jobs.write_text(
        json.dumps({"script": str(tmp_path / "gone.sh"), "name": "post"})
        + "\n"
        + json.dumps({"script": ok})
        + "\n"
    )
    proc = cli.run(
        "submit", str(tmp_path / "nosuch.sh"), str(tmp_path), ok, "-d", "cpus=0",
        "--jobs", str(jobs), check=False,
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    assert "4 problems" in proc.stderr, proc.stderr
    assert "--directive cpus" in proc.stderr
    assert f"job 'nosuch.sh' (SCRIPT {tmp_path / 'nosuch.sh'}): cannot read" in proc.stderr
    assert f"job '{tmp_path.name}' (SCRIPT {tmp_path}): cannot read" in proc.stderr
    assert f"--jobs {jobs} line 1 (job 'post'): script {tmp_path / 'gone.sh'}: cannot read" in (
        proc.stderr
    )
    assert not cli.json("list")  # nothing was submitted


def test_submit_empty_name_names_the_option(cli: Cli, tmp_path: Path) -> None:
    proc = cli.run("submit", script(tmp_path, "ok.sh"), "--name", "", check=False)
    assert proc.returncode == 2
    assert "--name" in proc.stderr and "ok.sh" in proc.stderr, proc.stderr


def test_tidy_without_run_is_refused_naming_run(cli: Cli, tmp_path: Path) -> None:
    """docs/cli.md: tidy's --run is required; without it tidy spoke of "run None"
    (and with --force would have gone over every job of the ledger)."""
    cli.run("submit", script(tmp_path, "slow.sh", "sleep 60"), "--run", "r")
    for extra in ((), ("--force",)):
        proc = cli.run("tidy", *extra, check=False)
        assert proc.returncode == 2, proc.stderr
        assert "--run" in proc.stderr and "None" not in proc.stderr, proc.stderr
    cli.run("kill", "--run", "r")


def test_wait_timeout_hint_waits_for_the_same_jobs(cli: Cli, tmp_path: Path) -> None:
    """The "wait again" hint after a timeout must name the jobs waited for, not
    the whole run (which holds other jobs)."""
    slow = script(tmp_path, "slow.sh", "sleep 60")
    cli.run("submit", slow, slow, "--run", "r", "--name", "a", "--name", "b")
    proc = cli.run("wait", "r/a", "--timeout", "0", check=False)
    assert proc.returncode == 3, proc.stderr
    hint = proc.stderr.split("wait again:")[1]
    assert "r/1" in hint and "--run" not in hint and "r/2" not in hint, proc.stderr
    cli.run("kill", "--run", "r")


def test_logs_of_a_tidied_job_says_it_is_gone(cli: Cli, tmp_path: Path) -> None:
    """After `tidy`, `logs` said "no job.out (yet)" of a succeeded job, and
    `logs --follow` printed nothing and exited 0."""
    cli.run("submit", script(tmp_path, "ok.sh", "echo hi"), "--run", "r", "--wait")
    assert cli.run("logs", "r/1").stdout == "hi\n"
    cli.run("tidy", "--run", "r")
    for follow in ((), ("--follow",)):
        proc = cli.run("logs", "r/1", *follow, check=False)
        assert proc.returncode == 1, proc.stderr
        assert "succeeded" in proc.stderr and "gone" in proc.stderr, proc.stderr
        assert "yet" not in proc.stderr


def test_extra_arguments_are_refused_by_the_command(cli: Cli) -> None:
    """`show 1 2` answered with the top-level usage ("jobrelay: error: ..."),
    not naming the command that was given too much."""
    proc = cli.run("show", "1", "2", check=False)
    assert proc.returncode == 2
    assert "jobrelay show: error: unrecognized arguments: 2" in proc.stderr, proc.stderr
    assert "usage: jobrelay show" in proc.stderr


@pytest.mark.parametrize("run", ["", ".", "a/b", "x\ny"])
def test_a_bad_run_name_is_refused_naming_run(cli: Cli, tmp_path: Path, run: str) -> None:
    """`submit --run ''` said "run name is empty" without naming --run."""
    ok = script(tmp_path, "ok.sh")
    for argv in (("submit", ok), ("install", "ok.sh", "--from", str(tmp_path), "--platform",
                                  "localhost")):  # fmt: skip
        proc = cli.run(*argv, f"--run={run}", check=False)
        assert proc.returncode == 2, proc.stderr
        assert "argument --run: run name" in proc.stderr, proc.stderr
    assert not cli.json("list")


def test_install_from_a_missing_dir_names_from(cli: Cli, tmp_path: Path) -> None:
    """`install a.txt --from nosuchdir` said "nothing matches under ..." as if
    the dir were there and empty."""
    missing = tmp_path / "nosuchdir"
    proc = cli.run(
        "install", "a.txt", "--from", str(missing), "--platform", "localhost", check=False
    )
    assert proc.returncode == 2
    assert f"install --from {missing}: not a directory" in proc.stderr, proc.stderr


def test_an_empty_jobs_file_is_said_so(cli: Cli) -> None:
    """`submit --jobs -` with nothing on stdin said "give SCRIPT… or --jobs FILE"."""
    proc = cli.run("submit", "--jobs", "-", stdin="\n", check=False)
    assert proc.returncode == 2
    assert "--jobs -: no job in it" in proc.stderr, proc.stderr
