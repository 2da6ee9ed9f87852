"""Every reported state is true (issue 12, parts 1-4) on this machine's own
components: the real CLI, the real agent, real background jobs.

- two ledgers using one run name each run and report their own job;
- a job dir holding another submission is never taken for ours (submit,
  poll and kill through the real agent);
- a refused hold changes nothing; a watch holds only what it watches;
- kill is verified (a job ignoring TERM is KILLed after the grace);
- a vanished job dir ends `lost` after a second look, saying why; a job
  whose platform left the config gets its own error and the others are
  still polled.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Iterator

import pytest
from cli_harness import Cli, local_cli
from job_dirs import live_session, wait_for

from jobrelay.zipapps import build_agent


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def second_ledger(cli: Cli, tmp: Path) -> Cli:
    """Another JOBRELAY_HOME (another ledger) with the same platforms and run root."""
    return Cli(home=tmp / "home-b", config=cli.config, run_root=cli.run_root)


def test_two_ledgers_one_run_name_each_run_their_own_job(tmp_path: Path) -> None:
    a = local_cli(tmp_path)
    b = second_ledger(a, tmp_path)
    script = write(tmp_path / "job.sh", "echo first\n")
    (ja,) = a.json("submit", "--run", "r", "--wait", str(script))
    write(script, "echo second\n")
    (jb,) = b.json("submit", "--run", "r", "--wait", str(script))
    assert ja["job"] == jb["job"]  # the same reference in each ledger ...
    assert ja["job_dir"] != jb["job_dir"]  # ... but never the same job dir
    assert (ja["state"], jb["state"]) == ("succeeded", "succeeded")
    assert a.run("logs", ja["job"]).stdout == "first\n"
    assert b.run("logs", jb["job"]).stdout == "second\n"  # its own run, not the first's


@pytest.fixture
def agent(tmp_path: Path) -> Path:
    return build_agent(tmp_path / "agent")


def call_agent(agent: Path, root: Path, verb: str, jobs: list[dict[str, Any]]) -> dict[str, Any]:
    request = {"v": 1, "verb": verb, "run_root": str(root), "jobs": jobs}
    out = subprocess.run(
        [sys.executable, "-S", str(agent)],
        input=json.dumps(request).encode(),
        capture_output=True,
        timeout=120,
    )
    lines = [json.loads(x) for x in out.stdout.decode().splitlines()]
    assert lines[-1].get("end") is True, (out.stdout, out.stderr)
    return {line["job"]: line for line in lines[:-1]}


@pytest.fixture
def foreign_job(tmp_path: Path) -> Iterator[tuple[Path, Path, str]]:
    """A job dir holding another ledger's running job (this test's sleeper)."""
    root = tmp_path / "run"
    job_dir = root / "r" / "jobs" / "j1"
    job_dir.mkdir(parents=True)
    sleeper = subprocess.Popen(["sleep", "600"], start_new_session=True)
    from jobrelay.runners.proc_stat import read_proc_stat

    stat = read_proc_stat(sleeper.pid)
    assert stat is not None
    (job_dir / "job.status").write_text(
        "JOB_STATUS_VERSION=1\nJOB_IDENTITY=other-ledger/1/1\nJOB_RUNNER_NAME=background\n"
        f"JOB_RUNNER_ID={sleeper.pid}:{stat.starttime}\nJOB_PID={sleeper.pid}\n"
    )
    try:
        yield root, job_dir, f"{sleeper.pid}:{stat.starttime}"
    finally:
        sleeper.kill()
        sleeper.wait()


def test_another_submissions_job_dir_is_never_taken_for_ours(
    agent: Path, foreign_job: tuple[Path, Path, str]
) -> None:
    root, job_dir, runner_id = foreign_job
    before = (job_dir / "job.status").read_bytes()
    mine = {"job": "r/1", "dir": "r/jobs/j1", "identity": "my-ledger/1/1", "runner": "background"}
    got = call_agent(agent, root, "submit", [{**mine, "name": "x", "script": "echo mine\n"}])
    assert "holds submission other-ledger/1/1" in got["r/1"]["error"], got
    assert "another --run" in got["r/1"]["error"]  # the way out
    assert not (job_dir / "job").exists() and (job_dir / "job.status").read_bytes() == before
    for verb in ("poll", "kill"):
        got = call_agent(agent, root, verb, [{**mine, "runner_id": runner_id}])
        line = got["r/1"]
        assert "holds submission other-ledger/1/1" in line["error"], line
        assert "status" not in line and "runner" not in line  # nothing of it reported as ours
    # the other submission's job was not touched by the kill
    pid = int(runner_id.split(":")[0])
    os.kill(pid, 0)
    assert (job_dir / "job.status").read_bytes() == before
    # its own submission is still served: same dir, its own identity
    theirs = {**mine, "identity": "other-ledger/1/1", "runner_id": runner_id}
    line = call_agent(agent, root, "poll", [theirs])["r/1"]
    assert "error" not in line and line["runner"]["state"] == "running"


def test_a_refused_hold_changes_nothing_and_watch_holds_only_what_it_watches(
    tmp_path: Path,
) -> None:
    cli = local_cli(tmp_path)
    done = write(tmp_path / "done.sh", "true\n")
    (finished,) = cli.json("submit", "--run", "old", "--wait", str(done))
    flag = tmp_path / "flag"
    held = write(tmp_path / "held.sh", f"while [ ! -e {flag} ]; do sleep 0.1; done\n")
    cli.json("submit", "--run", "R", str(held))
    watch = subprocess.Popen(
        cli.argv("watch", "--run", "R", "--interval", "0.5"),
        env=cli.env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        contact = cli.home / "contact" / "R.json"
        wait_for(contact.exists, "watch to hold run R")
        refused = cli.run("submit", "--run", "R", "--wait", str(done), check=False)
        assert refused.returncode == 2, refused
        assert "held by a live controller" in refused.stderr
        assert len(cli.json("list", "--run", "R")) == 1  # nothing was submitted
        # a run it does not watch is free: waiting on a finished job there works
        assert cli.run("wait", finished["job"]).returncode == 0
    finally:
        flag.touch()
        try:
            watch.wait(timeout=60)
        finally:
            watch.kill()


def test_kill_is_verified_and_a_job_ignoring_term_is_killed_after_the_grace(
    tmp_path: Path,
) -> None:
    cli = local_cli(tmp_path, "kill_grace = 1\n")
    stubborn = write(tmp_path / "stubborn.sh", "trap '' TERM\nwhile :; do sleep 0.1; done\n")
    (job,) = cli.json("submit", str(stubborn))
    sid = int(job["runner_id"].split(":")[0])
    wait_for(lambda: cli.json("poll", job["job"])[0]["state"] == "running", "it to run")
    proc = cli.run("kill", "--json", job["job"])
    assert proc.returncode == 0, proc.stderr
    (killed,) = [json.loads(x) for x in proc.stdout.splitlines()]
    assert killed["state"] == "killed" and killed["exit_signal"] == "KILL", killed
    assert not live_session(sid)  # verified gone when kill returned


def test_a_vanished_job_dir_ends_lost_after_a_second_look_saying_why(tmp_path: Path) -> None:
    cli = local_cli(tmp_path)
    flag = tmp_path / "go"
    script = write(tmp_path / "job.sh", f"while [ ! -e {flag} ]; do sleep 0.1; done\n")
    (job,) = cli.json("submit", str(script))
    wait_for(lambda: cli.json("poll", job["job"])[0]["state"] == "running", "it to run")
    import shutil

    shutil.rmtree(cli.job_dir(job))
    flag.touch()  # it ends with nowhere to write its end
    sid = int(job["runner_id"].split(":")[0])
    wait_for(lambda: not live_session(sid), "the job to end")
    first = cli.json("poll", job["job"])[0]
    assert first["state"] == "running"  # one look is not enough to call it lost
    assert "the job dir is gone" in first["error"]
    second = cli.json("poll", job["job"])[0]
    assert second["state"] == "lost", second
    assert "the job dir is gone" in second["error"]


def test_a_job_whose_platform_left_the_config_does_not_stop_the_others(tmp_path: Path) -> None:
    extra = f'[platforms.gone]\nrun_root = "{tmp_path / "run-gone"}"\n'
    cli = local_cli(tmp_path, extra)
    flag = tmp_path / "flag"
    script = write(tmp_path / "job.sh", f"while [ ! -e {flag} ]; do sleep 0.1; done\n")
    (lost_platform,) = cli.json("submit", "--platform", "gone", "--run", "r", str(script))
    (kept,) = cli.json("submit", "--run", "r", str(script))
    cli.config.write_text(cli.config.read_text().replace(extra, ""))
    try:
        proc = cli.run("poll", "--run", "r", "--json", check=False)
        assert proc.returncode in (0, 1), proc.stderr
        by_ref = {j["job"]: j for j in map(json.loads, proc.stdout.splitlines())}
        assert by_ref[kept["job"]]["state"] in ("submitted", "running")
        assert "platform 'gone'" in by_ref[lost_platform["job"]]["error"]
        assert lost_platform["job"] in proc.stderr  # the message names the job
        assert "Traceback" not in proc.stderr
    finally:
        flag.touch()
        for job in (kept, lost_platform):
            sid = int(job["runner_id"].split(":")[0])
            wait_for(lambda s=sid: not live_session(s), "the jobs to end")
