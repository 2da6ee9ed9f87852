"""The CLI as a user runs it, on the localhost platform: real `jobrelay`
processes (subprocess), the background runner, the ledger on disk.

Waiting is by condition (a status file line, a job's state), each bounded by
the harness's process timeout; nothing here measures time."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from cli_harness import Cli, local_cli
from conftest import require_that


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    return local_cli(tmp_path)


def script(tmp: Path, name: str, body: str) -> str:
    path = tmp / name
    # bash: the wrapper's jobrelay_message is a bash function
    path.write_text("#!/bin/bash\n" + body + "\n")
    return str(path)


def until_status(cli: Cli, job: dict[str, object], key: str) -> None:
    """Until the job's status file has a line for ``key`` (the job got that far)."""
    status = cli.run_root / str(job["job_dir"]) / "job.status"
    for _ in range(600):
        if status.exists() and f"{key}=" in status.read_text():
            return
        time.sleep(0.05)
    raise AssertionError(f"{status}: no {key} line")


def refused(proc: subprocess.CompletedProcess[str], *words: str) -> None:
    assert proc.returncode == 2, proc
    assert "Traceback" not in proc.stderr, proc.stderr
    for word in words:
        assert word in proc.stderr, proc.stderr


def test_bad_values_are_refused_naming_the_option(cli: Cli, tmp_path: Path) -> None:
    a = script(tmp_path, "a.sh", "true")
    refused(cli.run("wait", "x", "--timeout", "-1", check=False), "--timeout", "'-1'")
    refused(cli.run("watch", "--interval", "0", check=False), "--interval")
    refused(cli.run("list", "--state", "runing", check=False), "--state", "runing")
    refused(cli.run("submit", a, "--timeout", "5", check=False), "--timeout needs --wait")
    refused(cli.run("wait", check=False), "give JOB")
    refused(cli.run("logs", "x", "--interval", "1", check=False), "--interval needs --follow")
    refused(cli.run("watch", "--run", "nosuch", check=False), "no jobs in run 'nosuch'")
    refused(cli.run("list", "--run", "nosuch", check=False), "no jobs in run 'nosuch'")
    refused(cli.run("show", "nosuch", check=False), "unknown job 'nosuch'")


def test_a_state_dir_that_is_a_file_is_exit_2(cli: Cli, tmp_path: Path) -> None:
    cli.home.parent.mkdir(parents=True, exist_ok=True)
    cli.home.write_text("not a dir")
    for verb in (["list"], ["poll"], ["submit", script(tmp_path, "a.sh", "true")]):
        refused(cli.run(*verb, check=False), "JOBRELAY_HOME", "not a directory")


def test_unknown_runner_names_the_file(tmp_path: Path) -> None:
    cli = local_cli(tmp_path, '[platforms.odd]\nrunner = "nosuch"\n')
    proc = cli.run("submit", script(tmp_path, "a.sh", "true"), "--platform", "odd", check=False)
    refused(proc, f"{cli.config}: platform 'odd': key 'runner': unknown runner 'nosuch'")


def test_config_after_the_subcommand(cli: Cli, tmp_path: Path) -> None:
    other = tmp_path / "other.toml"
    other.write_text(f'[platforms.mine]\nrun_root = "{cli.run_root}"\n')
    env = cli.env()
    del env["JOBRELAY_CONFIG"]
    argv = cli.argv("submit", script(tmp_path, "a.sh", "true"), "--platform", "mine")
    proc = subprocess.run([*argv, "--config", str(other)], env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "mine" in proc.stdout


def test_wait_timeout_0_polls_once_and_timeout_says_so(cli: Cli, tmp_path: Path) -> None:
    [done] = cli.json("submit", script(tmp_path, "quick.sh", "true"), "--run", "w")
    until_status(cli, done, "JOB_EXIT")
    proc = cli.run("wait", done["job"], "--timeout", "0", "--json")
    assert proc.returncode == 0, proc.stderr  # it looked: the job is over
    assert json.loads(proc.stdout)["state"] == "succeeded"

    [slow] = cli.json("submit", script(tmp_path, "slow.sh", "sleep 60"), "--run", "w")
    proc = cli.run("wait", "--run", "w", "--timeout", "0", check=False)
    assert proc.returncode == 3
    assert f"timed out after 0s; 1 job(s) not final: {slow['job']}" in proc.stderr
    assert f"waiting for 1 job(s): {slow['job']}" in proc.stderr  # said up front
    assert cli.run("kill", "--run", "w").returncode == 0
    assert cli.run("wait", "--run", "w").returncode == 1  # a killed job: exit by its fate


def test_submit_wait_says_the_references_first(cli: Cli, tmp_path: Path) -> None:
    a, b = script(tmp_path, "a.sh", "true"), script(tmp_path, "b.sh", "exit 4")
    proc = cli.run("submit", a, b, "--run", "sw", "--wait", "--json")
    assert proc.returncode == 1
    jobs = [json.loads(line) for line in proc.stdout.splitlines()]
    refs = " ".join(j["job"] for j in jobs)
    assert f"submitted 2 job(s) to run 'sw': {refs}" in proc.stderr
    assert [j["state"] for j in jobs] == ["succeeded", "failed"]


def test_run_name_references_show_and_state_filters(cli: Cli, tmp_path: Path) -> None:
    msg = script(tmp_path, "m.sh", 'jobrelay_message WARNING "half way"; echo out; exit 3')
    first = cli.json("submit", msg, "--name", "x", "--run", "a", "--wait")[0]
    second = cli.json("submit", msg, "--name", "x", "--run", "a", "--wait")[0]
    other = cli.json("submit", msg, "--name", "x", "--run", "b", "--wait")[0]
    assert cli.json("show", "a/x")[0]["job"] == second["job"] != first["job"]
    assert cli.json("show", "b/x")[0]["job"] == other["job"]
    refused(cli.run("show", "x", check=False), "ambiguous", second["job"], other["job"])

    shown = cli.run("show", "a/x").stdout
    assert "failed  exit 3" in shown
    assert "message [WARNING]" in shown and "half way" in shown
    assert "running -> failed" in shown or "submitted -> failed" in shown
    assert f"{cli.run_root}/{second['job_dir']}/job.out" in shown
    data = cli.json("show", second["job"])[0]
    assert any(e["kind"] == "message" and e["severity"] == "WARNING" for e in data["events"])
    assert data["start_time"] and data["exit_time"]

    assert {j["job"] for j in cli.json("list", "--state", "failed", "--run", "a")} == {
        first["job"],
        second["job"],
    }
    assert cli.json("list", "--state", "running,succeeded") == []
    polled = cli.json("poll", "--run", "a", "--state", "failed")  # final: printed, not asked
    assert [j["job"] for j in polled] == [first["job"], second["job"]]


def test_kill_run_and_logs_follow(cli: Cli, tmp_path: Path) -> None:
    talk = script(tmp_path, "talk.sh", "for i in 1 2 3; do echo line $i; sleep 0.5; done")
    [job] = cli.json("submit", talk, "--run", "f")
    proc = cli.run("logs", "--follow", "--interval", "0.2", job["job"])
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "line 1\nline 2\nline 3\n"

    sleeper = script(tmp_path, "sleeper.sh", "sleep 60")
    jobs = cli.json("submit", sleeper, sleeper, "--name", "s1", "--name", "s2", "--run", "k")
    for j in jobs:
        until_status(cli, j, "JOB_START_TIME")
    killed = cli.json("kill", "--run", "k")
    assert [j["state"] for j in killed] == ["killed", "killed"]
    proc = cli.run("kill", "--run", "k")
    assert proc.returncode == 0 and "every job of run 'k' is final" in proc.stderr


def test_install_and_tidy_on_a_local_platform(cli: Cli, tmp_path: Path) -> None:
    src = tmp_path / "src"
    (src / "bin").mkdir(parents=True)
    (src / "bin" / "tool.sh").write_text("echo tool\n")
    proc = cli.run("install", "--platform", "localhost", "--run", "t", "--from", str(src), "bin/")
    assert proc.returncode == 0, proc.stderr
    assert (cli.run_root / "t" / "bin" / "tool.sh").read_text() == "echo tool\n"
    assert "installed 1 file(s)" in proc.stderr

    jobs = cli.json("submit", script(tmp_path, "a.sh", "true"), "--run", "t", "--wait")
    assert (cli.run_root / jobs[0]["job_dir"]).is_dir()
    proc = cli.run("tidy", "--run", "t")
    assert proc.returncode == 0, proc.stderr
    assert f"removed 1 job dir(s) and the run dir {cli.run_root}/t" in proc.stderr
    assert not (cli.run_root / "t").exists()


def test_version_and_help_text(cli: Cli) -> None:
    assert cli.run("--version").stdout.startswith("jobrelay ")
    text = cli.run("wait", "--help").stdout
    for needed in ("--timeout S", "0 polls once", "RUN/NAME", "exit codes:", "130"):
        assert needed in text
    assert "$JOBRELAY_CONFIG" in cli.run("--help").stdout


def test_list_and_status_import_no_controller(cli: Cli, tmp_path: Path) -> None:
    """`list`, and `status` of a local job (polled in this process), start
    small: no asyncio, no controller, no rich, no standard dataclasses."""
    [job] = cli.json("submit", script(tmp_path, "s.sh", "sleep 60"))
    for argv in (["list"], ["status", job["job"]]):
        code = (  # looked at as the process ends (atexit)
            "import atexit, sys\n"
            "heavy = ('asyncio', 'rich', 'jobrelay.manager.controller', 'dataclasses')\n"
            "atexit.register(lambda: print([m for m in heavy if m in sys.modules]))\n"
            "from jobrelay.command import main\nmain()"
        )
        proc = subprocess.run(
            [sys.executable, "-c", code, *argv], env=cli.env(), capture_output=True, text=True
        )
        assert proc.returncode == 0, (argv, proc)
        assert proc.stdout.strip().splitlines()[-1] == "[]", (argv, proc)
    assert cli.run("status", job["job"]).returncode == 0  # and it is still alive
    cli.run("kill", job["job"])


def test_an_error_is_said_once(cli: Cli, tmp_path: Path) -> None:
    """A job whose platform left the config: the first poll says why it cannot
    be polled, later polls print the job but not the same error again."""
    cli.config.write_text(
        cli.config.read_text() + f'[platforms.gone]\nrun_root = "{cli.run_root}"\n'
    )
    [job] = cli.json("submit", script(tmp_path, "s.sh", "sleep 60"), "--platform", "gone")
    cli.config.write_text(f'[platforms.localhost]\nrun_root = "{cli.run_root}"\n')
    first = cli.run("poll")
    assert f"job {job['job']} (s.sh): cannot poll: unknown platform 'gone'" in first.stderr
    again = cli.run("poll")
    assert job["job"] in again.stdout and again.stderr == ""
    killed = cli.run("kill", job["job"])  # its own error: said, naming the job
    assert killed.returncode == 1
    assert f"job {job['job']}: kill not verified" in killed.stderr


def test_an_unreachable_host_is_said_on_one_clean_line(tmp_path: Path) -> None:
    require_that(shutil.which("ssh") is not None, "no ssh client (tests/infra/up.sh)")
    far = '[platforms.far]\ntransport = "ssh"\nhosts = ["127.0.0.99"]\nrun_root = "~/jr"\n'
    cli = local_cli(tmp_path, far + "submit_retry_budget = 0\n")
    proc = cli.run("submit", script(tmp_path, "a.sh", "true"), "--platform", "far")
    assert proc.returncode == 1
    assert "no host of platform 'far' reachable" in proc.stderr
    assert "\r" not in proc.stderr and "\\r" not in proc.stderr
    assert len(proc.stderr.splitlines()) == 1


def test_status_times_read_alike_before_and_after_the_end(cli: Cli, tmp_path: Path) -> None:
    """`submitted` comes from the status file while the job is polled and from
    the ledger once it has ended: the same form either way, to the second."""
    import re

    stamp = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
    [running] = cli.json("submit", script(tmp_path, "long.sh", "sleep 60"))
    cli.run("submit", "--wait", script(tmp_path, "quick.sh", "true"))
    for ref, code in ((running["job"], 0), ("quick.sh", 1)):
        shown = cli.run("status", ref, check=False)
        assert shown.returncode == code, shown
        lines = dict(line.split(None, 1) for line in shown.stdout.splitlines() if " " in line)
        assert stamp.match(lines["submitted"].strip()), shown.stdout
    cli.run("kill", running["job"])
