"""SlurmRunner against the real Slurm clusters of the test infrastructure.

Commands run as the test user rjhost1 (``options.command_prefix``), with the
infrastructure's slurm.conf. No timed assertions: loops wait with generous
deadlines and only the outcome is checked.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from pathlib import Path
from typing import Iterator, List, Sequence, Tuple

import pytest
from conftest import ROOT, Infra, require, require_that
from job_dirs import user_dir

from jobrelay.processes import run_command
from jobrelay.runners.base import (
    Directives,
    KillTarget,
    PollAnswer,
    RunnerOptions,
    RunnerState,
    SubmitRequest,
)
from jobrelay.runners.slurm import SlurmRunner

USER = "rjhost1"
DEADLINE = 240.0  # seconds; a loaded machine is slow, never a failure by itself


@pytest.fixture()
def slurm_conf(infra: Infra) -> str:
    require(infra, "slurm")
    return str(infra.data["slurm"]["conf"])


def prefix(conf: str) -> Tuple[str, ...]:
    return ("runuser", "-u", USER, "--", "env", f"SLURM_CONF={conf}")


def runner(conf: str, **kw: object) -> SlurmRunner:
    return SlurmRunner(RunnerOptions(command_prefix=prefix(conf), **kw))  # type: ignore[arg-type]


@pytest.fixture()
def jobs_root() -> Iterator[Path]:
    with user_dir(USER, "rj-runner-tests") as root:
        yield root


def make_job(root: Path, name: str, body: str, header: Sequence[str] = ()) -> SubmitRequest:
    job_dir = root / name
    job_dir.mkdir()
    script = "\n".join(["#!/bin/bash", *header, body, ""])
    (job_dir / "job").write_text(script)
    (job_dir / "job").chmod(0o755)
    shutil.chown(job_dir, USER, USER)
    shutil.chown(job_dir / "job", USER, USER)
    return SubmitRequest(str(job_dir), str(job_dir / "job"), script)


def submit_all(r: SlurmRunner, jobs: Sequence[SubmitRequest]) -> List[str]:
    outcomes = r.submit(jobs, run_command)
    assert all(o.runner_id for o in outcomes), outcomes
    return [str(o.runner_id) for o in outcomes]


def poll_until(r: SlurmRunner, ids: Sequence[str], done: Sequence[RunnerState]) -> PollAnswer:
    end = time.monotonic() + DEADLINE
    while True:
        answer = r.poll(ids, run_command)
        assert answer.error is None, answer.error
        if all(answer.jobs[i].state in done for i in ids) or time.monotonic() > end:
            return answer
        time.sleep(1)


@pytest.fixture(scope="module", autouse=True)
def time_limited(infra: Infra) -> Iterator[str | None]:
    """The Slurm id of a job with a time limit, submitted before this module's first
    test: Slurm's least limit is a minute (and it looks every 30 s), so the job ends
    a minute or more later, while the other tests run (the one that looks at how it
    ended comes last; the first stops and restarts the controller, which keeps the
    job and its limit)."""
    if not infra.has("slurm"):
        yield None  # the tests fail or skip through their slurm_conf fixture
        return
    r = runner(str(infra.data["slurm"]["conf"]))
    with user_dir(USER, "rj-runner-tests") as root:
        job = make_job(root, "tl", "trap 'exit 143' TERM; sleep 600 & wait", ["#SBATCH --time=1"])
        (rid,) = submit_all(r, [job])
        try:
            # its minute counts from its start, which a stopped controller would delay
            poll_until(r, [rid], [RunnerState.RUNNING, RunnerState.DONE, RunnerState.GONE])
            yield rid
        finally:
            r.kill([KillTarget(rid)], run_command)


def test_controller_down_is_an_error_not_gone(slurm_conf: str, jobs_root: Path) -> None:
    ctl = ROOT / "tests" / "infra" / "slurmctl.sh"
    require_that(ctl.exists(), f"{ctl} is not in this checkout: cannot stop a controller safely")
    r = runner(slurm_conf, command_timeout=30.0)
    (rid,) = submit_all(r, [make_job(jobs_root, "down", "sleep 1", ["#SBATCH --begin=now+3600"])])
    subprocess.run(["bash", str(ctl), "stop", "rjtest"], check=True)
    try:
        answer = r.poll([rid], run_command)
    finally:
        subprocess.run(["bash", str(ctl), "start", "rjtest"], check=True)
    assert answer.error and not answer.jobs
    r.kill([KillTarget(rid)], run_command)


def test_submit_many_poll_states_and_exit_codes(slurm_conf: str, jobs_root: Path) -> None:
    r = runner(slurm_conf)
    jobs = [
        make_job(jobs_root, "ok", "exit 0"),
        make_job(jobs_root, "three", "exit 3"),
        make_job(jobs_root, "later", "exit 0", ["#SBATCH --begin=now+3600"]),
    ]
    ids = submit_all(r, jobs)
    assert len(set(ids)) == 3 and all(re.fullmatch(r"\d+", i) for i in ids)
    answer = poll_until(r, ids[:2], [RunnerState.DONE, RunnerState.GONE])
    first = answer.jobs
    # done jobs: squeue (within MinJobAge) or sacct (after) gives the exit code
    assert first[ids[0]].state is RunnerState.DONE and first[ids[0]].exit_code == 0
    assert first[ids[1]].state is RunnerState.DONE and first[ids[1]].exit_code == 3
    later = r.poll([ids[2]], run_command).jobs[ids[2]]
    assert (later.state, later.reason) == (RunnerState.PENDING, "BeginTime")
    assert r.kill([KillTarget(ids[2])], run_command)[0].ok


def test_header_lines_are_what_sbatch_obeys(slurm_conf: str, jobs_root: Path) -> None:
    r = runner(slurm_conf)
    job_dir = jobs_root / "named"
    header = r.header_lines(Directives(time_limit=120, job_name="bad name; $(x)"), str(job_dir))
    job = make_job(jobs_root, "named", "echo to-out; echo to-err >&2", header)
    (rid,) = submit_all(r, [job])
    poll_until(r, [rid], [RunnerState.DONE, RunnerState.GONE])
    assert (job_dir / "job.out").read_text() == "to-out\n"
    assert (job_dir / "job.err").read_text() == "to-err\n"


def test_kill_pending_and_running(slurm_conf: str, jobs_root: Path) -> None:
    r = runner(slurm_conf)
    running = make_job(jobs_root, "run", f"echo started > {jobs_root}/run/started; sleep 600")
    pending = make_job(jobs_root, "pend", "sleep 1", ["#SBATCH --begin=now+3600"])
    ids = submit_all(r, [running, pending])
    end = time.monotonic() + DEADLINE
    while not (jobs_root / "run" / "started").exists() and time.monotonic() < end:
        time.sleep(0.5)
    states = r.poll(ids, run_command).jobs
    assert states[ids[0]].state is RunnerState.RUNNING
    assert states[ids[1]].state is RunnerState.PENDING
    outcomes = r.kill([KillTarget(ids[0]), KillTarget(ids[1]), KillTarget("999999")], run_command)
    assert [o.ok for o in outcomes] == [True, True, True]  # unknown id: already gone
    final = poll_until(r, ids, [RunnerState.DONE, RunnerState.GONE]).jobs
    for rid in ids:
        assert final[rid].state is RunnerState.DONE and final[rid].reason == "CANCELLED"


def job_info_rpcs(conf: str) -> int:
    out = subprocess.run(
        ["sdiag"],
        env={**os.environ, "SLURM_CONF": conf},
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    counts = re.findall(r"^\s*REQUEST_JOB_INFO(?:_SINGLE)?\s+\(\s*\d+\)\s+count:(\d+)", out, re.M)
    return sum(int(c) for c in counts)


def test_one_squeue_rpc_for_many_ids(slurm_conf: str, jobs_root: Path) -> None:
    r = runner(slurm_conf, use_sacct=False)
    jobs = [
        make_job(jobs_root, f"j{n}", "sleep 1", ["#SBATCH --begin=now+3600"]) for n in range(22)
    ]
    ids = submit_all(r, jobs)
    before = job_info_rpcs(slurm_conf)
    answer = r.poll(ids, run_command)
    after = job_info_rpcs(slurm_conf)
    assert answer.error is None
    assert {answer.jobs[i].state for i in ids} == {RunnerState.PENDING}
    # other clients (other tests' pollers) may add RPCs: at most a few, never one per id
    assert 1 <= after - before < len(ids) // 2
    r.kill([KillTarget(i) for i in ids], run_command)


def test_cluster_qualified_submit_poll_kill(infra: Infra, slurm_conf: str, jobs_root: Path) -> None:
    clusters = infra.data["slurm"].get("clusters", [])
    require_that("rjtest2" in clusters, "second cluster rjtest2 is not up (needs slurmdbd)")
    r = runner(slurm_conf, cluster="RJtest2")
    quick = make_job(jobs_root, "c2quick", "exit 4")
    slow = make_job(jobs_root, "c2slow", "sleep 600", ["#SBATCH --begin=now+3600"])
    ids = submit_all(r, [quick, slow])
    assert all(i.endswith(";rjtest2") for i in ids)
    final = poll_until(r, [ids[0]], [RunnerState.DONE, RunnerState.GONE]).jobs[ids[0]]
    assert (final.state, final.exit_code) == (RunnerState.DONE, 4)
    assert r.poll([ids[1]], run_command).jobs[ids[1]].state is RunnerState.PENDING
    assert r.kill([KillTarget(ids[1])], run_command)[0].ok
    gone = poll_until(r, [ids[1]], [RunnerState.DONE, RunnerState.GONE]).jobs[ids[1]]
    assert gone.reason == "CANCELLED"


def test_aged_out_ids_are_gone_not_errors(slurm_conf: str) -> None:
    answer = runner(slurm_conf, use_sacct=False).poll(["999990", "999991"], run_command)
    assert answer.error is None
    assert {i.state for i in answer.jobs.values()} == {RunnerState.GONE}


def test_time_limit_job_is_timeout(slurm_conf: str, time_limited: str | None) -> None:
    assert time_limited is not None
    rid = time_limited
    info = poll_until(runner(slurm_conf), [rid], [RunnerState.DONE, RunnerState.GONE]).jobs[rid]
    assert (info.state, info.reason) == (RunnerState.DONE, "TIMEOUT")
    assert "TERM" in SlurmRunner.time_limit_signals
