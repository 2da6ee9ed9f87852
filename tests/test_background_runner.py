"""The background runner with real processes: submit, poll, kill, and read the record."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

from job_dirs import live_session, make_job, status_lines, wait_for

from jobrelay.processes import run_command
from jobrelay.runners.background import BackgroundRunner, parse_id, read_proc_stat
from jobrelay.runners.base import (
    Directives,
    KillTarget,
    RunnerOptions,
    RunnerState,
    SubmitRequest,
)
from jobrelay.status import keys
from jobrelay.status.reader import read_status_file


def request(job_dir: Path) -> SubmitRequest:
    job_file = job_dir / "job"
    return SubmitRequest(str(job_dir), str(job_file), job_file.read_text())


def submit_one(runner: BackgroundRunner, job_dir: Path) -> str:
    (outcome,) = runner.submit([request(job_dir)], run_command)
    assert outcome.error is None and outcome.runner_id
    return outcome.runner_id


def state_of(runner: BackgroundRunner, runner_id: str) -> RunnerState:
    answer = runner.poll([runner_id], run_command)
    assert answer.error is None
    return answer.jobs[runner_id].state


def test_header_lines() -> None:
    runner = BackgroundRunner()
    assert runner.header_lines(Directives(), "/d") == []
    lines = runner.header_lines(Directives(time_limit=90, cpus=4, raw=("ulimit -v 100000",)), "/d")
    assert lines == ["export JOBRELAY_TIME_LIMIT=90", "ulimit -v 100000"]


def test_success_runs_detached_and_is_read_later(tmp_path: Path) -> None:
    runner = BackgroundRunner()
    job_dir = make_job(tmp_path, 'echo "hello $JOBRELAY_JOB_NAME"; echo oops >&2\n', name="n 1")
    runner_id = submit_one(runner, job_dir)
    pid, starttime = parse_id(runner_id) or (0, 0)
    stat = read_proc_stat(pid)
    assert stat is None or stat.starttime == starttime
    # nobody watches: wait only for the runner to forget it, then read the record
    wait_for(lambda: state_of(runner, runner_id) is RunnerState.GONE, "the job to end")
    facts = read_status_file(str(job_dir / "job.status"))
    assert (facts.exit, facts.exit_code, facts.pid) == ("succeeded", 0, pid)
    assert (job_dir / "job.out").read_text() == "hello n 1\n"
    assert (job_dir / "job.err").read_text() == "oops\n"


def test_job_is_not_our_child_and_leads_its_own_session(tmp_path: Path) -> None:
    runner = BackgroundRunner()
    job_dir = make_job(tmp_path, "echo go > ready\nsleep 300\n")
    runner_id = submit_one(runner, job_dir)
    pid = int(runner_id.split(":")[0])
    try:
        wait_for(lambda: (job_dir / "ready").exists(), "the job to start")
        stat = read_proc_stat(pid)
        assert stat is not None and stat.session == pid and stat.pgrp == pid
        try:
            os.waitpid(pid, os.WNOHANG)
            raise AssertionError("the job is a child of the submitting process")
        except ChildProcessError:
            pass
    finally:
        runner.kill([KillTarget(runner_id)], run_command)


def test_exit_code_and_signal_through_the_runner(tmp_path: Path) -> None:
    runner = BackgroundRunner()
    failing = make_job(tmp_path, "exit 3\n", dirname="exit3")
    killed = make_job(tmp_path, "kill -s KILL $$\n", dirname="sigkill")
    ids = [submit_one(runner, failing), submit_one(runner, killed)]
    wait_for(
        lambda: all(
            j.state is RunnerState.GONE for j in runner.poll(ids, run_command).jobs.values()
        ),
        "both jobs to end",
    )
    facts = read_status_file(str(failing / "job.status"))
    assert (facts.exit, facts.exit_code, facts.exit_signal) == ("failed", 3, None)
    facts = read_status_file(str(killed / "job.status"))
    assert (facts.exit, facts.exit_code, facts.exit_signal) == ("failed", 137, "KILL")


def test_time_limit_from_directives(tmp_path: Path) -> None:
    runner = BackgroundRunner()
    header = runner.header_lines(Directives(time_limit=1), str(tmp_path / "job"))
    job_dir = make_job(tmp_path, "sleep 30\n", header=header)
    runner_id = submit_one(runner, job_dir)
    wait_for(lambda: state_of(runner, runner_id) is RunnerState.GONE, "the time limit")
    facts = read_status_file(str(job_dir / "job.status"))
    assert (facts.exit, facts.exit_signal) == ("failed", "XCPU")


def test_poll_running_then_gone_and_kill_takes_the_whole_group(tmp_path: Path) -> None:
    runner = BackgroundRunner(RunnerOptions(kill_grace=30))
    script = "sleep 300 &\nsleep 301 &\necho go > ready\nwait\n"
    job_dir = make_job(tmp_path, script)
    runner_id = submit_one(runner, job_dir)
    pid = int(runner_id.split(":")[0])
    wait_for(lambda: (job_dir / "ready").exists(), "the job to start")
    assert state_of(runner, runner_id) is RunnerState.RUNNING
    assert len(live_session(pid)) >= 4  # wrapper, script, two sleeps
    (outcome,) = runner.kill([KillTarget(runner_id, pid=pid, job_dir=str(job_dir))], run_command)
    assert outcome.ok and outcome.detail == "terminated"
    assert live_session(pid) == {}
    assert state_of(runner, runner_id) is RunnerState.GONE
    facts = read_status_file(str(job_dir / "job.status"))
    assert (facts.exit, facts.exit_signal) == ("failed", "TERM")
    assert len(status_lines(job_dir, keys.EXIT)) == 1
    (again,) = runner.kill([KillTarget(runner_id)], run_command)
    assert again.ok and again.detail == "already gone"


def test_kill_escalates_to_kill_after_the_grace(tmp_path: Path) -> None:
    runner = BackgroundRunner(RunnerOptions(kill_grace=1))
    script = "trap '' TERM\n( trap '' TERM; sleep 300 ) &\necho go > ready\nsleep 300\n"
    job_dir = make_job(tmp_path, script)
    runner_id = submit_one(runner, job_dir)
    pid = int(runner_id.split(":")[0])
    wait_for(lambda: (job_dir / "ready").exists(), "the job to start")
    (outcome,) = runner.kill([KillTarget(runner_id)], run_command)
    assert outcome.ok and outcome.detail == "TERM, then KILL after 1 s"
    assert live_session(pid) == {}
    # the wrapper died by KILL too: no exit line; the agent records EXIT_BY=agent
    assert read_status_file(str(job_dir / "job.status")).exit is None


def test_kill_after_the_wrapper_died_still_takes_the_script(tmp_path: Path) -> None:
    runner = BackgroundRunner(RunnerOptions(kill_grace=30))
    job_dir = make_job(tmp_path, "sleep 300 &\necho go > ready\nwait\n")
    runner_id = submit_one(runner, job_dir)
    pid = int(runner_id.split(":")[0])
    wait_for(lambda: (job_dir / "ready").exists(), "the job to start")
    os.kill(pid, 9)
    wait_for(lambda: state_of(runner, runner_id) is RunnerState.GONE, "the wrapper to die")
    assert live_session(pid)  # the script and its sleep live on
    (outcome,) = runner.kill([KillTarget(runner_id)], run_command)
    assert outcome.ok and outcome.detail == "terminated"
    assert live_session(pid) == {}


def test_bad_ids_and_unknown_ids(tmp_path: Path) -> None:
    runner = BackgroundRunner()
    answer = runner.poll(["junk", "1:999999999999"], run_command)
    assert answer.jobs["junk"].state is RunnerState.GONE
    assert answer.jobs["1:999999999999"].state is RunnerState.GONE  # pid 1, other start time
    outcomes = runner.kill([KillTarget("junk"), KillTarget("1:999999999999")], run_command)
    assert [o.ok for o in outcomes] == [False, True]
    assert outcomes[1].detail == "already gone"
    assert read_proc_stat(1) is not None  # and pid 1 was not touched


def test_submit_failure_is_an_outcome_not_an_exception(tmp_path: Path) -> None:
    runner = BackgroundRunner()
    missing = tmp_path / "nowhere"
    (outcome,) = runner.submit([SubmitRequest(str(missing), str(missing / "job"), "")], run_command)
    assert outcome.runner_id is None and outcome.error
    job_dir = make_job(tmp_path, "exit 0\n")
    broken = BackgroundRunner(RunnerOptions(command_prefix=("/nonexistent/launcher",)))
    (outcome,) = broken.submit([request(job_dir)], run_command)
    assert outcome.runner_id is None
    assert outcome.error and "/nonexistent/launcher" in outcome.error


def test_jobs_survive_the_submitting_process(tmp_path: Path) -> None:
    # The submitter (like an agent) exits at once; the job lives on and records its end.
    job_dir = make_job(tmp_path, "echo go > ready\nsleep 1\necho done\n")
    src = Path(__file__).resolve().parent.parent / "src"
    code = textwrap.dedent(
        f"""
        import sys
        sys.path.insert(0, {str(src)!r})
        from jobrelay.runners.background import BackgroundRunner
        from jobrelay.runners.base import SubmitRequest
        from jobrelay.processes import run_command
        d = {str(job_dir)!r}
        (o,) = BackgroundRunner().submit([SubmitRequest(d, d + "/job", "")], run_command)
        print(o.runner_id)
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    runner_id = out.stdout.strip()
    runner = BackgroundRunner()
    wait_for(lambda: state_of(runner, runner_id) is RunnerState.GONE, "the job to end")
    facts = read_status_file(str(job_dir / "job.status"))
    assert (facts.exit, facts.exit_code) == ("succeeded", 0)
    assert (job_dir / "job.out").read_text() == "done\n"


def test_many_submits_in_one_call(tmp_path: Path) -> None:
    runner = BackgroundRunner()
    dirs = [make_job(tmp_path, "exit 0\n", dirname=f"j{i}") for i in range(50)]
    outcomes = runner.submit([request(d) for d in dirs], run_command)
    ids = [o.runner_id for o in outcomes]
    assert all(ids) and len(set(ids)) == 50
    wait_for(
        lambda: all(
            j.state is RunnerState.GONE
            for j in runner.poll([i for i in ids if i], run_command).jobs.values()
        ),
        "50 jobs to end",
    )
    for d in dirs:
        assert read_status_file(str(d / "job.status")).exit == "succeeded"


def test_a_launched_job_is_never_in_the_callers_process_tree(tmp_path: Path) -> None:
    """The launcher is forked twice: it and the jobs it starts belong to init (or
    a subreaper) from the start, so a kill of the caller's tree (an ssh
    session's processes, killed when the session dies) never takes them. Each
    job writes its launcher's parent as it starts, while the launcher is still
    starting the others."""
    from fault_sshd import children

    from jobrelay.runners.detach import Launch, launch_detached

    out = str(tmp_path / "out")
    jobs = 50  # the first ones start while the launcher still starts the rest
    # the launcher's stat line, or "gone" once it has exited (then nothing is seen)
    seen = (
        'line=gone; read -r line < /proc/$PPID/stat 2>/dev/null; echo "$line" > "$1"; exec sleep 30'
    )
    launches = [
        Launch(["sh", "-c", seen, "sh", str(tmp_path / f"parent{i}")], str(tmp_path), out, out)
        for i in range(jobs)
    ]
    started = launch_detached(launches)
    pids = [int(s.runner_id.split(":")[0]) for s in started if s.runner_id]
    files = [tmp_path / f"parent{i}" for i in range(jobs)]
    try:
        assert len(pids) == jobs, [s.error for s in started]
        assert not set(pids) & set(children(os.getpid()))
        for path in files:
            wait_for(lambda p=path: p.exists() and p.read_text().strip(), f"{path.name} written")
        lines = [p.read_text().strip() for p in files]
        seen_alive = [line for line in lines if line != "gone"]
        assert seen_alive, "no job started while its launcher ran (cannot tell)"
        for line in seen_alive:
            launchers_parent = int(line[line.rfind(")") + 2 :].split()[1])
            assert launchers_parent != os.getpid(), "a launcher was the caller's child"
    finally:
        for pid in pids:
            os.kill(pid, 9)
