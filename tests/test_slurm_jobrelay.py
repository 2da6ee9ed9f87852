"""Issue 5 acceptance: Slurm through the whole of jobrelay (CLI, controller,
ssh, agent on host1, wrapper) against the real test clusters. Nothing mocked.

Other engineers' jobs share the clusters: assertions look at our job ids
only, and the RPC count takes the least of a few measurements.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List

import pytest
from cli_harness import Cli
from conftest import ROOT, Infra, require, require_that
from slurm_harness import (
    cleanup,
    conf,
    job_info_rpcs,
    poll_until,
    slurm,
    slurm_cli,
    submit_jobs,
    write_config,
)

from jobrelay.status.reader import read_status_file

FINAL = {"succeeded", "failed", "killed", "submit-failed", "lost"}
LONG = "#!/bin/bash\nsleep 600\n"
REQUEUE = (
    "#!/bin/bash\n"
    'echo "run ${SLURM_RESTART_COUNT:-0}"\n'
    'if [ "${SLURM_RESTART_COUNT:-0}" -ge 1 ]; then exit 0; fi\n'
    "sleep 600\n"
)
LATER = {"raw": ["#SBATCH --begin=now+1hour"]}
RUNS = [f"run{n}" for n in range(6)]
RQS = [f"rq{n}" for n in range(6)]
PENDS = [f"pend{n}" for n in range(15)]


@pytest.fixture()
def slurm_up(infra: Infra) -> Infra:
    require(infra, "slurm")
    require(infra, "ssh")
    return infra


def all_final(names: List[str]) -> Any:
    return lambda jobs: all(jobs[n]["state"] in FINAL for n in names)


def all_in(names: List[str], state: str) -> Any:
    return lambda jobs: all(jobs[n]["state"] == state for n in names)


@dataclass
class Mixed:
    """The hundred mixed jobs of one `jobrelay submit`, as their first half left them."""

    cli: Cli
    spec: List[Dict[str, Any]]
    submitted: List[Dict[str, Any]]
    ids: Dict[str, Any]
    running: Dict[str, Dict[str, Any]]  # the poll that saw the six run and six rq jobs run
    killed: List[Dict[str, Any]]
    requeue: subprocess.CompletedProcess[str]


@pytest.fixture(scope="module")
def mixed(infra: Infra, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mixed]:
    """Submit the hundred, wait for the run and rq jobs to run, kill the run and pend
    jobs, requeue the rq ones: the first test of this module. The last one waits for
    the ends: the over jobs' one-minute time limit (Slurm's least, enforced up to 30 s
    late) passes while the tests between run, on the CPUs the kill freed."""
    require(infra, "slurm")
    require(infra, "ssh")
    tmp = tmp_path_factory.mktemp("mixed")
    cli = slurm_cli(tmp, infra)
    spec: List[Dict[str, Any]] = []
    spec += [{"name": f"ok{n}", "script": "#!/bin/bash\necho ok\n"} for n in range(50)]
    spec += [{"name": f"code{n}", "script": f"#!/bin/bash\nexit {n}\n"} for n in range(1, 21)]
    spec += [
        {"name": f"over{n}", "script": LONG, "directives": {"time_limit": 60}} for n in range(3)
    ]
    spec += [{"name": f"pend{n}", "script": LONG, "directives": LATER} for n in range(15)]
    spec += [{"name": f"run{n}", "script": LONG} for n in range(6)]
    spec += [{"name": f"rq{n}", "script": REQUEUE} for n in range(6)]
    submitted = submit_jobs(cli, tmp, "mix", spec)
    ids = {j["name"]: j["runner_id"] for j in submitted}
    try:
        jobs = poll_until(cli, "mix", all_in(RUNS + RQS, "running"))
        # cancel pending and running ones in one kill; requeue others (as root)
        killed = cli.json("kill", *(jobs[n]["job"] for n in RUNS + PENDS))
        requeue = slurm(infra, "scontrol", "requeue", ",".join(str(ids[n]) for n in RQS))
        yield Mixed(cli, spec, submitted, ids, jobs, killed, requeue)
    finally:
        cleanup(infra, cli, [str(i) for i in ids.values()])


def test_hundred_mixed_jobs_in_one_call_run_and_are_killed_or_requeued(mixed: Mixed) -> None:
    spec, submitted, ids, jobs = mixed.spec, mixed.submitted, mixed.ids, mixed.running
    assert len(spec) == 100
    assert len(submitted) == 100
    assert all(j["state"] in ("submitted", "running") for j in submitted), submitted
    assert all(re.fullmatch(r"\d+", str(i)) for i in ids.values()), ids
    assert all_in(RUNS + RQS, "running")(jobs), {n: jobs[n]["state"] for n in RUNS + RQS}
    assert all(jobs[n]["state"] == "submitted" for n in PENDS)
    assert len(mixed.killed) == len(RUNS + PENDS)
    assert mixed.requeue.returncode == 0, mixed.requeue.stderr


def ctld_pid(infra: Infra) -> int:
    return int(Path(infra.data["slurm"]["ctld_pidfile"]["rjtest"]).read_text().strip())


def slurmctl(action: str) -> None:
    script = ROOT / "tests" / "infra" / "slurmctl.sh"
    subprocess.run(["bash", str(script), action, "rjtest"], check=True, timeout=120)


def snapshot(jobs: Dict[str, Dict[str, Any]]) -> Dict[str, str]:
    return {n: j["state"] for n, j in jobs.items()}


def test_one_squeue_per_poll_and_runner_trouble_is_not_job_failure(
    slurm_up: Infra, tmp_path: Path
) -> None:
    infra = slurm_up
    cli = slurm_cli(tmp_path, infra)
    spec = [{"name": f"wait{n}", "script": LONG, "directives": LATER} for n in range(96)]
    spec += [{"name": f"live{n}", "script": LONG} for n in range(4)]
    submitted = submit_jobs(cli, tmp_path, "trouble", spec)
    ids = [str(j["runner_id"]) for j in submitted]
    try:
        assert len(submitted) == 100 and all(j["state"] == "submitted" for j in submitted)
        live = [f"live{n}" for n in range(4)]
        jobs = poll_until(cli, "trouble", all_in(live, "running"))
        before_trouble = snapshot(jobs)
        assert set(before_trouble.values()) == {"submitted", "running"}

        # one poll of 100 jobs = one job-info RPC at slurmctld (sdiag counts all
        # users' RPCs: the least of a few tries is ours alone)
        costs = []
        for _ in range(5):
            first = job_info_rpcs(infra)
            cli.json("poll", "--run", "trouble")
            costs.append(job_info_rpcs(infra) - first)
            if min(costs) == 1:
                break
        assert min(costs) == 1, costs

        # a hung slurmctld: squeue is timed out (runner gets half of 10 s) and reported
        write_config(cli, infra, f"~/{cli.run_root.name}", command_timeout=10)
        pid = ctld_pid(infra)
        os.kill(pid, signal.SIGSTOP)
        try:
            hung = {j["name"]: j for j in cli.json("poll", "--run", "trouble")}
        finally:
            os.kill(pid, signal.SIGCONT)
        assert snapshot(hung) == before_trouble
        assert all("timed out" in j.get("error", "") for j in hung.values()), hung["wait0"]

        # slurmctld stopped: squeue fails; nothing changes state, each job carries the error
        write_config(cli, infra, f"~/{cli.run_root.name}", command_timeout=60)
        slurmctl("stop")
        try:
            down = {j["name"]: j for j in cli.json("poll", "--run", "trouble")}
        finally:
            slurmctl("start")
        assert snapshot(down) == before_trouble
        assert all("squeue" in j.get("error", "") for j in down.values()), down["wait0"]
        assert not any("timed out" in j.get("error", "") for j in down.values())

        # back up: the next poll settles them (same states), then they can be killed
        back = {j["name"]: j for j in cli.json("poll", "--run", "trouble")}
        assert snapshot(back) == before_trouble
        cli.json("kill", *(j["job"] for j in back.values()))
        names = list(back)
        jobs = poll_until(cli, "trouble", all_final(names))
        assert {j["state"] for j in jobs.values()} == {"killed"}
    finally:
        cleanup(infra, cli, ids)


def test_cluster_qualified_jobs_through_jobrelay(slurm_up: Infra, tmp_path: Path) -> None:
    infra = slurm_up
    require_that(
        "rjtest2" in infra.data["slurm"].get("clusters", []),
        "second cluster rjtest2 is not up (needs slurmdbd)",
    )
    cli = slurm_cli(tmp_path, infra, cluster="rjtest2")
    spec = [{"name": f"ok{n}", "script": "#!/bin/bash\nexit 0\n"} for n in range(5)]
    spec += [{"name": f"seven{n}", "script": "#!/bin/bash\nexit 7\n"} for n in range(2)]
    spec += [{"name": f"long{n}", "script": LONG} for n in range(3)]
    submitted = submit_jobs(cli, tmp_path, "c2", spec)
    ids = [str(j["runner_id"]) for j in submitted]
    try:
        assert all(re.fullmatch(r"\d+;rjtest2", i) for i in ids), ids
        longs = [f"long{n}" for n in range(3)]
        jobs = poll_until(cli, "c2", all_in(longs, "running"))
        cli.json("kill", *(jobs[n]["job"] for n in longs))
        names = [j["name"] for j in spec]
        jobs = poll_until(cli, "c2", all_final(names))
        for n in range(5):
            assert (jobs[f"ok{n}"]["state"], jobs[f"ok{n}"]["exit_code"]) == ("succeeded", 0)
        for n in range(2):
            assert (jobs[f"seven{n}"]["state"], jobs[f"seven{n}"]["exit_code"]) == ("failed", 7)
        for n in longs:
            assert jobs[n]["state"] == "killed" and jobs[n]["runner_id"].endswith(";rjtest2")
        # the ids were rjtest2's: its accounting knows them (slurmdbd hears of
        # jobs asynchronously, so look a few times)
        plain = {i.split(";")[0] for i in ids}
        end = time.monotonic() + 120
        while True:
            listed = slurm(
                infra, "sacct", "-X", "-n", "-P", "-o", "JobIDRaw", "-M", "rjtest2",
                "-j", ",".join(sorted(plain)), cluster="rjtest",
            )  # fmt: skip
            seen = {line.strip() for line in listed.stdout.splitlines()}
            if seen >= plain or time.monotonic() > end:
                break
            time.sleep(2)
        assert seen >= plain, (listed.stdout, listed.stderr)
    finally:
        plain = sorted({i.split(";")[0] for i in ids})
        if plain:
            slurm(infra, "scancel", "-M", "rjtest2", *plain, cluster="rjtest")
        cleanup(infra, cli, [])


def test_conf_of_the_test_cluster_is_what_host1_uses(slurm_up: Infra) -> None:
    # the agent relies on host1's sshd setting SLURM_CONF: check it, or the
    # tests above would talk to some other cluster
    out = subprocess.run(
        ["ssh", "-F", slurm_up.ssh_config, "host1", "printenv", "SLURM_CONF"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout.strip()
    assert out == conf(slurm_up)


def test_hundred_mixed_jobs_in_one_call_end_in_the_right_state(infra: Infra, mixed: Mixed) -> None:
    """The last test of this module (the time limits pass meanwhile: ``mixed``)."""
    cli, ids = mixed.cli, mixed.ids
    rq_ids = [str(ids[n]) for n in RQS]

    def release_requeued() -> None:
        # a requeued job waits ~2 min before it may start again: let it go now
        for rid in rq_ids:
            slurm(infra, "scontrol", "update", f"jobid={rid}", "StartTime=now")

    names = [j["name"] for j in mixed.spec]
    jobs = poll_until(cli, "mix", all_final(names), between=release_requeued)
    states = {
        n: (jobs[n]["state"], jobs[n].get("exit_code"), jobs[n].get("exit_signal")) for n in names
    }
    for n in range(50):
        assert states[f"ok{n}"] == ("succeeded", 0, None)
    for n in range(1, 21):
        assert states[f"code{n}"] == ("failed", n, None)
    for n in range(3):
        assert states[f"over{n}"][0] == "failed" and states[f"over{n}"][2] == "TERM"
    for n in PENDS:
        assert states[n] == ("killed", None, None), states[n]
    for n in RUNS:
        assert states[n][0] == "killed" and states[n][2] == "TERM", states[n]
    for n in RQS:
        # requeue keeps the job id and the job's history: two runs, one id
        assert states[n] == ("succeeded", 0, None), states[n]
        assert jobs[n]["runner_id"] == ids[n]
        facts = read_status_file(str(cli.job_dir(jobs[n]) / "job.status"))
        assert facts.restarts == 1 and facts.runner_id == ids[n]
        assert (cli.job_dir(jobs[n]) / "job.out").read_text() == "run 0\nrun 1\n"
