"""The bash job wrapper, run for real: exit records, signals, time limits, messages."""

from __future__ import annotations

import os
import re
import signal
import subprocess
from pathlib import Path
from typing import Dict, Optional

from job_dirs import live_session, make_job, status_lines, wait_for

from jobrelay.status import keys
from jobrelay.status.facts import Message, StatusFacts
from jobrelay.status.reader import read_status_file

ISO_Z = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


def start(job_dir: Path, env: Optional[Dict[str, str]] = None) -> subprocess.Popen[bytes]:
    with open(job_dir / "job.out", "ab") as out, open(job_dir / "job.err", "ab") as err:
        return subprocess.Popen(
            ["bash", str(job_dir / "job")],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=err,
            start_new_session=True,
            env={**os.environ, **(env or {})},
        )


def run_job(job_dir: Path, env: Optional[Dict[str, str]] = None) -> tuple[int, StatusFacts]:
    proc = start(job_dir, env)
    code = proc.wait(timeout=120)
    return code, read_status_file(str(job_dir / "job.status"))


def started(job_dir: Path) -> Optional[StatusFacts]:
    facts = read_status_file(str(job_dir / "job.status"))
    return facts if facts.pid else None


def test_success_records_start_and_exit(tmp_path: Path) -> None:
    job_dir = make_job(tmp_path, 'echo "out $PWD"; echo err >&2\n')
    code, facts = run_job(job_dir)
    assert code == 0
    assert facts.problems == ()
    assert (facts.exit, facts.exit_code, facts.exit_signal) == ("succeeded", 0, None)
    assert facts.host == os.uname().nodename
    assert facts.start_time and ISO_Z.match(facts.start_time)
    assert facts.exit_time and ISO_Z.match(facts.exit_time)
    assert (job_dir / "job.out").read_text() == f"out {job_dir}\n"  # cwd is the job dir
    assert (job_dir / "job.err").read_text() == "err\n"


def test_pid_is_the_wrappers(tmp_path: Path) -> None:
    job_dir = make_job(tmp_path, "exit 0\n")
    proc = start(job_dir)
    proc.wait(timeout=120)
    assert read_status_file(str(job_dir / "job.status")).pid == proc.pid


def test_exit_code_is_recorded_and_returned(tmp_path: Path) -> None:
    job_dir = make_job(tmp_path, "echo before; exit 3\n")
    code, facts = run_job(job_dir)
    assert code == 3
    assert (facts.exit, facts.exit_code, facts.exit_signal) == ("failed", 3, None)


def test_script_killed_by_a_signal(tmp_path: Path) -> None:
    job_dir = make_job(tmp_path, "kill -s KILL $$\nsleep 30\n")
    code, facts = run_job(job_dir)
    assert code == 128 + signal.SIGKILL
    assert (facts.exit, facts.exit_code, facts.exit_signal) == ("failed", 137, "KILL")


def test_exit_128_plus_n_reads_as_a_signal(tmp_path: Path) -> None:
    # Documented ambiguity: "exit 130" and death by SIGINT look the same to bash.
    job_dir = make_job(tmp_path, "exit 130\n")
    code, facts = run_job(job_dir)
    assert code == 130
    assert (facts.exit, facts.exit_code, facts.exit_signal) == ("failed", 130, "INT")


def test_shebang_script_runs_directly(tmp_path: Path) -> None:
    script = "#!/usr/bin/env python3\nimport sys\nprint('py', sys.argv[0])\nsys.exit(4)\n"
    job_dir = make_job(tmp_path, script)
    code, facts = run_job(job_dir)
    assert code == 4
    assert (facts.exit, facts.exit_code) == ("failed", 4)
    assert (job_dir / "job.out").read_text() == "py ./job.script\n"


def test_missing_script_is_a_recorded_failure(tmp_path: Path) -> None:
    job_dir = make_job(tmp_path, "exit 0\n")
    (job_dir / "job.script").unlink()
    code, facts = run_job(job_dir)
    assert code == 1
    assert (facts.exit, facts.exit_code) == ("failed", 1)
    assert "no readable job.script" in (job_dir / "job.err").read_text()


def test_time_limit_ends_the_job_with_xcpu(tmp_path: Path) -> None:
    job_dir = make_job(tmp_path, "sleep 30 &\nsleep 31\n", header=["export JOBRELAY_TIME_LIMIT=1"])
    code, facts = run_job(job_dir)
    assert code == 128 + signal.SIGTERM  # the script died of the TERM the wrapper sent
    assert (facts.exit, facts.exit_signal) == ("failed", "XCPU")
    assert len(status_lines(job_dir, keys.EXIT)) == 1
    assert live_session(facts.pid or -1) == {}  # the background sleep went too


def test_time_limit_kills_a_script_that_ignores_term(tmp_path: Path) -> None:
    job_dir = make_job(
        tmp_path,
        "trap '' TERM\nsleep 30\n",
        header=["export JOBRELAY_TIME_LIMIT=1", "export JOBRELAY_TIME_LIMIT_GRACE=1"],
    )
    code, facts = run_job(job_dir)
    assert code == 128 + signal.SIGKILL
    assert (facts.exit, facts.exit_code, facts.exit_signal) == ("failed", 137, "XCPU")


def test_messages_with_hostile_text_round_trip(tmp_path: Path) -> None:
    hostile = "line one\nline two | bar \\n not-a-newline 'single' \"double\" $(echo no) é"
    script = (
        "jobrelay_message INFO hello world\n"
        'jobrelay_message WARNING "$HOSTILE"\n'
        "bash -c 'jobrelay_message ERROR from a child bash'\n"
        "jobrelay_message LOUD nope || echo refused=$?\n"
        "jobrelay_message CRITICAL\n"
    )
    job_dir = make_job(tmp_path, script, env={"HOSTILE": hostile})
    code, facts = run_job(job_dir)
    assert code == 0, (job_dir / "job.err").read_text()
    assert facts.problems == ()
    assert [(m.severity, m.text) for m in facts.messages] == [
        ("INFO", "hello world"),
        ("WARNING", hostile),
        ("ERROR", "from a child bash"),
        ("CRITICAL", ""),
    ]
    assert all(isinstance(m, Message) and ISO_Z.match(m.time) for m in facts.messages)
    assert (job_dir / "job.out").read_text() == "refused=2\n"
    assert "severity must be one of" in (job_dir / "job.err").read_text()


def test_term_to_wrapper_is_forwarded_and_recorded_once(tmp_path: Path) -> None:
    script = "sleep 300 &\nsleep 301 &\n( sleep 302 ) &\necho ready > ready\nwait\n"
    job_dir = make_job(tmp_path, script)
    proc = start(job_dir)
    wait_for(lambda: (job_dir / "ready").exists(), "the script to start its children")
    before = wait_for(
        lambda: len(live_session(proc.pid)) >= 5 and live_session(proc.pid), "5 procs"
    )
    os.kill(proc.pid, signal.SIGTERM)
    os.kill(proc.pid, signal.SIGTERM)  # a second TERM changes nothing
    code = proc.wait(timeout=120)
    facts = read_status_file(str(job_dir / "job.status"))
    assert code == 128 + signal.SIGTERM
    assert (facts.exit, facts.exit_code, facts.exit_signal) == ("failed", 143, "TERM")
    assert len(status_lines(job_dir, keys.EXIT)) == 1
    assert len(status_lines(job_dir, keys.EXIT_CODE)) == 1
    wait_for(lambda: not live_session(proc.pid), f"the job's processes {before} to end")


def test_term_as_the_script_ends_is_recorded_as_term_not_a_lost_status(tmp_path: Path) -> None:
    """Slurm's requeue signals the wrapper and the script at once. When the script
    ends while the wrapper's trap runs, bash 5.2's next ``wait`` returns -1 (seen
    on the Slurm acceptance test as JOB_EXIT_CODE=-1). The script here makes that
    happen: it signals the wrapper and itself together. Most such jobs hit the
    window on this machine; all must record TERM and 143."""
    script = "sleep 0.3\nkill -TERM $PPID $$\nsleep 5\n"
    procs = [
        (start(d), d) for d in (make_job(tmp_path, script, dirname=f"j{i}") for i in range(20))
    ]
    for proc, job_dir in procs:
        assert proc.wait(timeout=120) == 143, job_dir
        facts = read_status_file(str(job_dir / "job.status"))
        assert (facts.exit, facts.exit_code, facts.exit_signal) == ("failed", 143, "TERM"), (
            job_dir,
            facts,
        )
        for message in facts.messages:  # only ever the wrapper's own word on a lost status
            assert message.severity == "WARNING" and "bash lost the exit status" in message.text


def test_script_that_survives_usr1_succeeds(tmp_path: Path) -> None:
    script = (
        "got=0\ntrap 'got=1' USR1\necho ready > ready\n"
        "while ((got == 0)); do sleep 0.05; done\necho warned\n"
    )
    job_dir = make_job(tmp_path, script)
    proc = start(job_dir)
    wait_for(lambda: (job_dir / "ready").exists(), "the script to start")
    os.kill(proc.pid, signal.SIGUSR1)
    code = proc.wait(timeout=120)
    facts = read_status_file(str(job_dir / "job.status"))
    assert code == 0
    assert (facts.exit, facts.exit_code, facts.exit_signal) == ("succeeded", 0, None)
    assert (job_dir / "job.out").read_text() == "warned\n"


def test_script_that_traps_term_and_exits_zero_still_fails(tmp_path: Path) -> None:
    script = "trap 'echo cleanup; exit 0' TERM\necho ready > ready\nwhile :; do sleep 0.05; done\n"
    job_dir = make_job(tmp_path, script)
    proc = start(job_dir)
    wait_for(lambda: (job_dir / "ready").exists(), "the script to start")
    os.kill(proc.pid, signal.SIGTERM)
    code = proc.wait(timeout=120)
    facts = read_status_file(str(job_dir / "job.status"))
    assert code == 143
    assert (facts.exit, facts.exit_code, facts.exit_signal) == ("failed", 143, "TERM")
    assert (job_dir / "job.out").read_text() == "cleanup\n"


def test_user_script_runs_in_its_own_process_group(tmp_path: Path) -> None:
    job_dir = make_job(tmp_path, 'echo "$$ $(ps -o pgid= -p $$)" > ids\n')
    proc = start(job_dir)
    proc.wait(timeout=120)
    pid, pgid = (job_dir / "ids").read_text().split()
    assert pid == pgid
    assert int(pgid) != proc.pid
