"""jobrelay as ecFlow's job commands, against a real ecflow_server (Debian 5.9.2).

The suites use only the three lines of docs/ecflow.md and ecFlow's usual
head.h/tail.h; tasks run on the background runner (platform localhost) and
on Slurm over SSH (platform hpc: host1, cluster rjtest).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from conftest import Infra, require
from ecflow_harness import DEADLINE, Ecflow, free_port, group_gone, process_gone, require_ecflow
from slurm_harness import slurm

from jobrelay.status.reader import read_status_file

HELLO = """%include <head.h>
echo "hello from %ECF_NAME% try %ECF_TRYNO%"
%include <tail.h>
"""
SLEEPER = """%include <head.h>
echo "sleeping"
sleep 600
%include <tail.h>
"""
FAILS = """%include <head.h>
echo "about to fail"
false
echo "not reached"
%include <tail.h>
"""
IGNORES_TERM = """%include <head.h>
trap '' 1 2 3 15
echo "ignoring TERM: only KILL ends this job, and no trap runs"
sleep 600
%include <tail.h>
"""
TASKS = [f"t{n:02d}" for n in range(1, 21)]


@pytest.fixture(scope="module")
def ecf(tmp_path_factory: pytest.TempPathFactory, infra: Infra) -> Iterator[Ecflow]:
    require_ecflow()
    tmp = tmp_path_factory.mktemp("ecflow")
    remote = f"rj-ecf-{uuid.uuid4().hex[:8]}"
    config = tmp / "platforms.toml"
    config.write_text(platforms(tmp, infra, remote), encoding="utf-8")
    server = Ecflow(
        home=tmp / "ecf",
        port=free_port(),
        jobrelay_home=tmp / "jr",
        config=config,
        remote_root=remote_root(infra, remote),
    )
    server.start()
    try:
        yield server
    finally:
        server.stop()
        if infra.has("slurm"):
            ids = [j["runner_id"] for j in list_jobs(server) if j["platform"] == "hpc"]
            plain = sorted({str(i).split(";")[0] for i in ids if i})
            if plain:
                slurm(infra, "scancel", *plain)
        shutil.rmtree(server.remote_root, ignore_errors=True)


@pytest.fixture(scope="module")
def suites(ecf: Ecflow, infra: Infra) -> Ecflow:
    """Every suite of this module, loaded at once: their jobs overlap, which keeps
    the module's run time near that of its slowest suite."""
    platforms = ["localhost"] + (["hpc"] if infra.has("ssh") and infra.has("slurm") else [])
    for platform in platforms:
        outs = out_dir(ecf, platform)
        body = "  family f\n" + "".join(f"    task {t}\n" for t in TASKS) + "  endfamily\n"
        ecf.load(
            f"many_{platform}", body, {f"f/{t}": HELLO for t in TASKS}, SCHOST=platform, **outs
        )
        ecf.load(
            f"kill_{platform}", "  task sleeper\n", {"sleeper": SLEEPER}, SCHOST=platform, **outs
        )
    loose = (("fails", FAILS), ("stat", SLEEPER), ("sigkill", SLEEPER), ("stubborn", IGNORES_TERM))
    for suite, script in loose:
        ecf.load(suite, "  task t\n", {"t": script}, SCHOST="localhost")
    if "hpc" in platforms:
        ecf.load("pending", "  task t\n", {"t": SLEEPER}, SCHOST="held", **out_dir(ecf, "hpc"))
    return ecf


def platforms(tmp: Path, infra: Infra, remote: str) -> str:
    text = f'[platforms.localhost]\nrun_root = "{tmp / "run-root"}"\n'
    if infra.has("ssh") and infra.has("slurm"):
        text += (
            "\n[platforms.hpc]\n"
            'hosts = ["host1"]\ntransport = "ssh"\nrunner = "slurm"\ninstall_target = "host1"\n'
            f"ssh_command = {json.dumps(['ssh', '-F', infra.ssh_config])}\n"
            f'run_root = "~/{remote}/run"\n'
        )
        # the same with every job held in the queue: for a job cancelled while pending
        text += text[text.index("\n[platforms.hpc]") :].replace(
            "[platforms.hpc]", "[platforms.held]"
        )
        text += 'directives = { raw = ["#SBATCH --hold"] }\n'
    return text


def remote_root(infra: Infra, remote: str) -> Path:
    home = infra.hosts.get("host1", {}).get("home", "/nonexistent")
    return Path(home) / remote


def list_jobs(ecf: Ecflow) -> list[dict[str, object]]:
    proc = ecf.jobrelay("list", "--json")
    return [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]


def needs(infra: Infra, platform: str) -> None:
    if platform == "hpc":
        require(infra, "ssh")
        require(infra, "slurm")


def wait_until(check: Callable[[], bool]) -> bool:
    end = time.monotonic() + DEADLINE
    while not check():
        if time.monotonic() > end:
            return False
        time.sleep(0.3)
    return True


def out_dir(ecf: Ecflow, platform: str) -> dict[str, str]:
    """ECF_OUT for a suite: on Slurm, a dir on host1 that does not exist yet."""
    if platform != "hpc":
        return {}
    return {"ECF_OUT": str(ecf.remote_root / "out")}


@pytest.mark.parametrize("platform", ["localhost", "hpc"])
def test_suite_of_20_tasks_completes(suites: Ecflow, infra: Infra, platform: str) -> None:
    needs(infra, platform)
    ecf, suite = suites, f"many_{platform}"
    state = ecf.wait_state(f"/{suite}/f", "complete", "aborted")
    states = {t: ecf.state(f"/{suite}/f/{t}") for t in TASKS}
    assert state == "complete", states
    out_root = Path(out_dir(ecf, platform).get("ECF_OUT", str(ecf.home)))
    for task in TASKS:
        path = f"/{suite}/f/{task}"
        # the job's output is where ecFlow looks for it, written on the job host
        assert f"hello from {path} try 1" in (out_root / f"{path[1:]}.1").read_text()
        # written once the submit returns, which may be after a quick job ended
        jid = Path(f"{ecf.job_file(path)}.jid")
        assert wait_until(jid.exists), jid
        sidecar = json.loads(jid.read_text())
        assert sidecar["platform"] == platform
    done = ecf.jobrelay("status", str(ecf.job_file(f"/{suite}/f/t07")))
    assert done.returncode == 1, done.stderr  # ended
    assert "succeeded" in done.stdout
    logs = ecf.jobrelay("logs", str(ecf.job_file(f"/{suite}/f/t07")))  # the -o file, fetched
    assert f"hello from /{suite}/f/t07 try 1" in logs.stdout, logs.stderr


def test_aborting_task_ends_aborted(suites: Ecflow) -> None:
    assert suites.wait_state("/fails/t", "aborted", "complete") == "aborted"
    out = (suites.home / "fails" / "t.1").read_text()
    assert "about to fail" in out and "not reached" not in out


@pytest.mark.parametrize("platform", ["localhost", "hpc"])
def test_task_killed_from_ecflow_is_gone_and_aborted(
    suites: Ecflow, infra: Infra, platform: str
) -> None:
    needs(infra, platform)
    ecf, task = suites, f"/kill_{platform}/sleeper"
    assert ecf.wait_state(task, "active", "aborted", "complete") == "active"
    script_pgid = int(ecf.variable(task, "ECF_RID"))  # the job script's $$
    ecf.client(f"--kill={task}")
    assert ecf.wait_state(task, "aborted", "complete") == "aborted"
    assert wait_until(lambda: group_gone(script_pgid)), "the job's processes live on"
    ended = ecf.jobrelay("status", str(ecf.job_file(task)))
    assert ended.returncode == 1, ended.stdout + ended.stderr
    if platform == "hpc":
        runner_id = next(
            j["runner_id"]
            for j in list_jobs(ecf)
            if j["name"] == "sleeper.job1" and j["platform"] == "hpc"
        )
        queue = slurm(infra, "squeue", "-h", "-j", str(runner_id).split(";")[0])
        assert queue.stdout.strip() == "", queue.stdout


def test_ecflow_status_shows_jobrelays_report(suites: Ecflow) -> None:
    ecf, task = suites, "/stat/t"
    assert ecf.wait_state(task, "active", "aborted", "complete") == "active"
    job_file = ecf.job_file(task)
    ecf.client(f"--status={task}")
    assert wait_until(lambda: Path(f"{job_file}.stat").exists())
    shown = ecf.client(f"--file={task}", "stat")
    assert "state        running" in shown, shown
    assert "runner says  running" in shown, shown
    assert f"job file     {job_file}" in shown, shown
    ecf.client(f"--kill={task}")
    assert ecf.wait_state(task, "aborted") == "aborted"


def test_job_sigkilled_outside_ecflow_is_aborted_after_one_status(suites: Ecflow) -> None:
    ecf, task = suites, "/sigkill/t"
    assert ecf.wait_state(task, "active", "aborted", "complete") == "active"
    job_file = str(ecf.job_file(task))
    first = ecf.jobrelay("status", "--json", job_file)
    assert first.returncode == 0, first.stdout + first.stderr  # alive
    job_dir = json.loads(first.stdout)["job_dir_path"]
    wrapper = read_status_file(os.path.join(job_dir, "job.status")).pid
    script_pgid = int(ecf.variable(task, "ECF_RID"))
    assert wrapper is not None
    # everything at once, as the OOM killer or a node's reboot would: no trap runs
    os.kill(wrapper, signal.SIGKILL)
    os.killpg(script_pgid, signal.SIGKILL)
    assert wait_until(lambda: process_gone(wrapper) and group_gone(script_pgid))
    assert ecf.state(task) == "active"  # ecFlow cannot know
    once = ecf.jobrelay("status", job_file)
    assert once.returncode == 1, once.stdout + once.stderr
    assert ecf.state(task) == "aborted", once.stdout
    assert "told ecFlow" in once.stdout
    again = ecf.jobrelay("status", job_file)
    assert again.returncode == 1
    assert "told ecFlow" not in again.stdout  # once only
    log = next(ecf.home.glob("*.ecf.log")).read_text()
    assert log.count(f"chd:abort {task}") == 1, log


def test_kill_that_ends_a_job_by_sigkill_tells_ecflow(suites: Ecflow) -> None:
    ecf, task = suites, "/stubborn/t"
    assert ecf.wait_state(task, "active", "aborted", "complete") == "active"
    ecf.client(f"--kill={task}")  # TERM is ignored; KILL after kill_grace: no trap runs
    assert ecf.wait_state(task, "aborted", "complete") == "aborted"
    kill_out = Path(f"{ecf.job_file(task)}.kill")
    assert wait_until(lambda: "told ecFlow" in kill_out.read_text()), kill_out.read_text()
    log = next(ecf.home.glob("*.ecf.log")).read_text()
    assert log.count(f"chd:abort {task}") == 1, log


def test_job_cancelled_while_pending_is_aborted(suites: Ecflow, infra: Infra) -> None:
    needs(infra, "hpc")
    ecf, task = suites, "/pending/t"
    job_file = str(ecf.job_file(task))
    # held in Slurm's queue: ecFlow sees it submitted, the job never starts
    assert wait_until(lambda: Path(f"{job_file}.jid").exists())
    assert ecf.state(task) == "submitted"
    alive = ecf.jobrelay("status", job_file)
    assert alive.returncode == 0, alive.stdout + alive.stderr
    assert "state        submitted" in alive.stdout
    ecf.client(f"--kill={task}")  # scancel: the job's own head.h never runs
    assert ecf.wait_state(task, "aborted", "complete") == "aborted"
    kill_out = Path(f"{job_file}.kill")  # the kill's own words, once it has finished
    assert wait_until(lambda: "told ecFlow" in kill_out.read_text()), kill_out.read_text()
