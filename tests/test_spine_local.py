"""Issue 3 acceptance: the whole path on one machine with real background jobs.

Every job here is a real process started by the real agent through the real
CLI; nothing is mocked.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from cli_harness import Cli, local_cli

from jobrelay.ledger.records import EventKind
from jobrelay.ledger.store import Ledger

HOSTILE = "we ird 'q' \"dq\"; $(touch /tmp/PWNED-jr) `id`\nline2"


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def wait_for(predicate: Any, timeout: float = 60, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def messages(cli: Cli, job_id: int) -> list[tuple[str | None, str]]:
    with Ledger.open(cli.home / "ledger.sqlite") as ledger:
        return [(e.severity, e.detail) for e in ledger.events(job_id, [EventKind.MESSAGE])]


def sigkill_session(sid: int) -> list[int]:
    """SIGKILL every live process of session ``sid``; the ones that were alive."""
    alive = session_alive(sid)
    for pid in alive:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    return alive


def session_alive(sid: int) -> list[int]:
    """Live (non-zombie) processes of session ``sid`` (the wrapper leads its own session)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        if fields[0] != "Z" and int(fields[3]) == sid:
            found.append(int(entry))
    return found


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    return local_cli(tmp_path)


def test_fifty_mixed_jobs_in_one_command(cli: Cli, tmp_path: Path) -> None:
    scripts = tmp_path / "scripts"
    scripts.mkdir()
    ok = write(scripts / "ok.sh", "echo fine\n")
    exit3 = write(scripts / "exit3.sh", "echo about to fail >&2\nexit 3\n")
    signalled = write(scripts / "signalled.sh", "kill -USR1 $$\nsleep 5\n")
    slow = write(scripts / "slow.sh", "sleep 60\n")
    talker = write(
        scripts / "talker.sh",
        'jobrelay_message INFO "starting | step 1"\n'
        "jobrelay_message WARNING \"disk 'nearly' full\nsecond line\"\n"
        "jobrelay_message ERROR done\n",
    )
    hostile = write(scripts / "hostile.sh", 'printf "%s" "$JOBRELAY_JOB_NAME" > name.txt\n')
    plan: list[dict[str, Any]] = []
    for i in range(44):
        plan.append({"script": str(ok), "name": f"ok-{i}", "expect": ("succeeded", 0, None)})
    plan.append({"script": str(exit3), "name": "exit3", "expect": ("failed", 3, None)})
    plan.append({"script": str(signalled), "name": "signalled", "expect": ("failed", 138, "USR1")})
    plan.append(
        {
            "script": str(slow),
            "name": "over-limit",
            "directives": {"time_limit": 1},
            "expect": ("failed", None, "XCPU"),
        }
    )
    plan.append({"script": str(talker), "name": "talker", "expect": ("succeeded", 0, None)})
    plan.append({"script": str(hostile), "name": HOSTILE, "expect": ("succeeded", 0, None)})
    plan.append({"script": str(ok), "name": "ok-last", "expect": ("succeeded", 0, None)})
    assert len(plan) == 50
    jobs_file = tmp_path / "jobs.jsonl"
    jobs_file.write_text(
        "".join(json.dumps({k: v for k, v in p.items() if k != "expect"}) + "\n" for p in plan)
    )
    submitted = cli.json("submit", "--jobs", str(jobs_file))
    assert len(submitted) == 50
    assert all(j["state"] in ("submitted", "running", "succeeded", "failed") for j in submitted)
    refs = [j["job"] for j in submitted]
    proc = cli.run("wait", *refs, "--timeout", "120", "--json", check=False)
    assert proc.returncode == 1, proc.stderr  # some jobs are meant to fail
    final = {j["job"]: j for j in map(json.loads, proc.stdout.splitlines())}
    for p, sub in zip(plan, submitted, strict=True):
        job = final[sub["job"]]
        state, code, sig = p["expect"]
        assert job["name"] == p["name"]
        assert job["state"] == state, (p["name"], job)
        if code is not None:
            assert job["exit_code"] == code, (p["name"], job)
        assert job["exit_signal"] == sig, (p["name"], job)
        assert job["runner"] == "background" and job["runner_id"]
    talker_id = next(int(j["job"].split("/")[1]) for j in submitted if j["name"] == "talker")
    assert messages(cli, talker_id) == [
        ("INFO", "starting | step 1"),
        ("WARNING", "disk 'nearly' full\nsecond line"),
        ("ERROR", "done"),
    ]
    hostile_job = next(j for j in submitted if j["name"] == HOSTILE)
    assert (cli.job_dir(hostile_job) / "name.txt").read_text() == HOSTILE
    assert not Path("/tmp/PWNED-jr").exists()


def test_kill_takes_the_whole_job(cli: Cli, tmp_path: Path) -> None:
    script = write(tmp_path / "tree.sh", "sleep 300 &\n(sleep 300; echo never) &\nsleep 300\n")
    (job,) = cli.json("submit", str(script), "--name", "tree")
    status = cli.job_dir(job) / "job.status"
    wait_for(lambda: "JOB_START_TIME" in status.read_text(), what="the job to start")
    pid = int(job["runner_id"].split(":")[0])
    wait_for(lambda: len(session_alive(pid)) >= 4, what="the job's children")
    (killed,) = cli.json("kill", job["job"])
    assert killed["state"] == "killed", killed
    assert session_alive(pid) == []
    text = status.read_text()
    assert text.count("JOB_EXIT=") == 1


def test_jobs_that_end_while_nothing_runs_are_found(cli: Cli, tmp_path: Path) -> None:
    script = write(tmp_path / "short.sh", "sleep 1\nexit 0\n")
    jobs = cli.json("submit", str(script), str(script), "--name", "a", "--name", "b")
    assert {j["state"] for j in jobs} <= {"submitted", "running"}
    # No jobrelay process runs now; the jobs finish on their own.
    for job in jobs:
        status = cli.job_dir(job) / "job.status"
        wait_for(lambda s=status: "JOB_EXIT=" in s.read_text(), what="the exits")
    listed = cli.json("list")
    assert {j["state"] for j in listed} <= {"submitted", "running"}  # the ledger has not looked
    polled = cli.json("poll")
    assert [j["state"] for j in polled] == ["succeeded", "succeeded"]


def test_a_corrupted_status_file_is_reported_and_disturbs_nothing(cli: Cli, tmp_path: Path) -> None:
    script = write(tmp_path / "ok.sh", "exit 0\n")
    names = [arg for i in range(4) for arg in ("--name", f"j{i}")]
    jobs = cli.json("submit", *[str(script)] * 4, *names)
    for job in jobs:
        status = cli.job_dir(job) / "job.status"
        wait_for(lambda s=status: "JOB_EXIT=" in s.read_text(), what="the exits")
    garbage = cli.job_dir(jobs[1]) / "job.status"
    garbage.write_bytes(b"\xff\xfe\x00garbage\nJOB_EXIT_CODE=notanumber\nJOB_RUNNER_ID")
    unreadable = cli.job_dir(jobs[2]) / "job.status"
    unreadable.unlink()
    unreadable.mkdir()  # not a file at all: even root cannot read it as one
    proc = cli.run("poll", "--json")
    polled = {j["job"]: j for j in map(json.loads, proc.stdout.splitlines())}
    assert polled[jobs[0]["job"]]["state"] == "succeeded"
    assert polled[jobs[3]["job"]]["state"] == "succeeded"
    for bad in (jobs[1], jobs[2]):
        assert polled[bad["job"]]["state"] != "succeeded"
        assert "status file" in polled[bad["job"]]["error"], polled[bad["job"]]
        assert bad["job"] in proc.stderr  # the error names the job


def test_kill_minus_nine_of_the_cli_mid_submit_loses_and_repeats_nothing(
    cli: Cli, tmp_path: Path
) -> None:
    script = write(tmp_path / "t.sh", "exit 0\n")
    names = [arg for i in range(200) for arg in ("--name", f"t{i}")]
    proc = subprocess.Popen(
        cli.argv("submit", *[str(script)] * 200, *names),
        env=cli.env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )

    def some_reached_the_runner() -> bool:
        return any(
            "JOB_RUNNER_ID=" in p.read_text(errors="replace")
            for p in cli.run_root.glob("default/jobs/*/job.status")
        )

    wait_for(some_reached_the_runner, what="the first submissions")
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    # The agents carry on with what they were given; give them time to end.
    time.sleep(3)
    cli.run("poll")
    with Ledger.open(cli.home / "ledger.sqlite") as ledger:
        jobs = ledger.find()
    assert jobs, "the ledger lost the jobs it had created"
    reached = 0
    for job in jobs:
        status = cli.run_root / job.job_dir / "job.status"
        text = status.read_text() if status.exists() else ""
        assert text.count("JOB_RUNNER_ID=") <= 1, job.ref
        assert text.count("JOB_START_TIME=") <= 1, f"{job.ref} ran twice"
        if "JOB_RUNNER_ID=" in text:
            reached += 1
            file_id = text.split("JOB_RUNNER_ID=")[1].split("\n")[0]
            assert job.runner_id == file_id, job
            assert job.state.value in ("submitted", "running", "succeeded"), job
        else:
            assert job.runner_id is None and job.state.value == "submitting", job
    assert reached > 0


def test_a_job_whose_runner_forgot_it_is_lost_after_a_second_look(cli: Cli, tmp_path: Path) -> None:
    script = write(tmp_path / "long.sh", "sleep 300\n")
    (job,) = cli.json("submit", str(script), "--name", "doomed")
    status = cli.job_dir(job) / "job.status"
    wait_for(lambda: "JOB_START_TIME" in status.read_text(), what="the job to start")
    sid = int(job["runner_id"].split(":")[0])
    # Something outside jobrelay kills the whole job at once: no exit is recorded.
    # Again until none is left: a process the job forked after a scan escapes it.
    wait_for(lambda: sigkill_session(sid) == [], what="the job to die")
    (first,) = cli.json("poll", job["job"])
    assert first["state"] == "running"  # one look is not enough to call it lost
    (second,) = cli.json("poll", job["job"])
    assert second["state"] == "lost", second
    assert "JOB_EXIT=" not in status.read_text()
    assert "JOB_RUNNER_FORGOT=" in status.read_text()


def test_watch_runs_until_every_job_is_final(cli: Cli, tmp_path: Path) -> None:
    script = write(tmp_path / "s.sh", "sleep 1\n")
    cli.json("submit", str(script), str(script), "--name", "w1", "--name", "w2", "--run", "wr")
    proc = cli.run("watch", "--run", "wr", "--interval", "0.2")
    assert proc.returncode == 0
    last_frame = proc.stdout.rsplit("JOB ", 1)[-1]
    assert last_frame.count("succeeded") == 2 + 1  # two rows and the summary line
    assert "run wr  2 jobs" in proc.stdout  # the header, above the table
