"""The ecFlow drop-in's parts without a server: the job file's task, the job
file as JOB, its sidecar, and `status` exit codes (real CLI, background runner)."""

from __future__ import annotations

import json
from pathlib import Path

from cli_harness import local_cli
from conftest import Infra, require
from ssh_harness import SshCli, ssh_platform, unique_root

from jobrelay.cli.ecflow import EcflowTask, task_of

# the head of a job file as ecflow_server 5.9.2 generated it (tests/ecflow_harness.py's head.h)
GENERATED = """#!/bin/bash
set -e
set -u
export ECF_PORT=31415
export ECF_HOST=vm
export ECF_NAME=/s1/t1
export ECF_PASS=lFtrejZX
export ECF_TRYNO=1
export ECF_RID=$$
ecflow_client --init=$$
"""


def test_task_read_from_a_generated_job_file() -> None:
    assert task_of(GENERATED) == EcflowTask(
        name="/s1/t1", password="lFtrejZX", host="vm", port="31415", tryno="1", rid=None
    )


def test_task_in_the_other_usual_forms() -> None:
    text = "ECF_NAME='/s/f/t'; export ECF_NAME\nECF_PASS=\"ab cd\"\nECF_HOST=h # c\nECF_PORT=3141\n"
    task = task_of(text)
    assert task is not None
    assert (task.name, task.password, task.host, task.port) == ("/s/f/t", "ab cd", "h", "3141")
    assert task.rid is None and task.tryno is None


def test_first_assignment_wins_and_round_trips() -> None:
    task = task_of(GENERATED + "export ECF_NAME=/other\n")
    assert task is not None and task.name == "/s1/t1"
    assert EcflowTask.from_json(task.to_json()) == task


def test_not_an_ecflow_job() -> None:
    assert task_of("#!/bin/bash\necho ECF_NAME=/x\n") is None
    assert task_of(GENERATED.replace("export ECF_PASS=lFtrejZX\n", "")) is None


def test_job_file_is_a_job_reference_with_a_sidecar(tmp_path: Path) -> None:
    cli = local_cli(tmp_path)
    script = tmp_path / "suite" / "task.job1"
    script.parent.mkdir()
    script.write_text("sleep 60\n")
    (job,) = cli.json("submit", str(script))
    sidecar = json.loads((tmp_path / "suite" / "task.job1.jid").read_text())
    assert (sidecar["job"], sidecar["platform"]) == (job["job"], "localhost")
    assert sidecar["ledger"] == str(tmp_path / "home" / "ledger.sqlite")
    alive = cli.run("status", str(script))
    assert alive.returncode == 0, alive.stderr
    assert f"job          {job['job']} (task.job1)" in alive.stdout
    assert "state        running" in alive.stdout or "state        submitted" in alive.stdout
    # a second submission of the file: the path means the latest one
    (again,) = cli.json("submit", str(script))
    listed = cli.json("kill", str(script))
    assert [j["job"] for j in listed] == [again["job"]]
    cli.run("kill", job["job"])
    ended = cli.run("status", "--write-stat", str(script))
    assert ended.returncode == 1, ended.stdout + ended.stderr
    assert "state        killed" in ended.stdout
    assert Path(f"{script}.stat").read_text() == ended.stdout


def test_status_usage_and_unknown_jobs(tmp_path: Path) -> None:
    cli = local_cli(tmp_path)
    assert cli.run("status", "", check=False).returncode == 2
    assert cli.run("status", check=False).returncode == 2
    missing = cli.run("status", str(tmp_path / "never-submitted.job1"), check=False)
    assert missing.returncode == 4
    assert "no submission of job file" in missing.stderr
    assert cli.run("status", "default/99", check=False).returncode == 4


def test_sidecar_of_another_ledger_says_where_the_job_is(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first, other = local_cli(tmp_path / "a"), local_cli(tmp_path / "b")
    script = tmp_path / "t.job1"
    script.write_text("true\n")
    first.json("submit", str(script))
    found = other.run("status", str(script), check=False)
    assert found.returncode == 4
    assert str(tmp_path / "a" / "home" / "ledger.sqlite") in found.stderr


def test_status_of_a_job_whose_host_cannot_be_reached_exits_3(tmp_path: Path, infra: Infra) -> None:
    require(infra, "ssh")
    root = unique_root()
    toml = ssh_platform("one", ["host1"], "t1", infra, f"~/{root}")
    cli = SshCli(tmp_path, infra, toml, root)
    try:
        script = tmp_path / "long.job1"
        script.write_text("sleep 120\n")
        (job,) = cli.json("submit", "--platform", "one", str(script))
        assert cli.run("status", str(script)).returncode == 0
        # the same host name, now leading nowhere (TEST-NET-1: never routed)
        cut = ssh_platform("one", ["host1"], "t1", infra, f"~/{root}", command_timeout=5).replace(
            '"-oConnectTimeout=5"', '"-oConnectTimeout=2", "-oHostName=192.0.2.1"'
        )
        cli.config.write_text(cut, encoding="utf-8")
        away = cli.run("status", str(script), check=False)
        assert away.returncode == 3, away.stdout + away.stderr
        assert "unreachable" in away.stdout
        cli.config.write_text(toml, encoding="utf-8")
        cli.run("kill", job["job"])
    finally:
        cli.cleanup()
