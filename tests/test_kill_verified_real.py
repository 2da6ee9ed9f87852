"""Issue 12 item 3, as a new user meets it: `jobrelay kill` returns when the job
is known gone, on the real components (Slurm over ssh and SSH-free, atd, this
machine's background jobs).

Each job's result is one of: killed (verified), already finished (with its
real end), not verified (with the reason, exit 1, a message naming the job).
`kill --json` says which in ``kill`` and how in ``kill_detail``.
"""

from __future__ import annotations

import json
import subprocess
import threading
from pathlib import Path
from typing import Any, Dict, Iterator, List

import pytest
from cli_harness import Cli, local_cli
from conftest import Infra, require
from job_dirs import live_session, status_lines, wait_for
from slurm_harness import slurm, slurm_cli
from sshfree_harness import SshFreeHost, run_name, sshfree_cli, sshfree_host

from jobrelay.runners.proc_stat import read_proc_stat

LATER = {"raw": ["#SBATCH --begin=now+1hour"]}  # pending for an hour
#: ignores TERM (noting it got one) and starts a child that ignores it too
STUBBORN = (
    "trap 'echo got-term' TERM\n"
    "bash -c 'trap \"\" TERM; while :; do sleep 0.2; done' &\n"
    "while :; do sleep 0.2; done\n"
)


def kill(cli: Cli, *refs: str) -> tuple[int, Dict[str, Dict[str, Any]], str]:
    proc = cli.run("kill", "--json", *refs, check=False)
    jobs = [json.loads(x) for x in proc.stdout.splitlines() if x.strip()]
    return proc.returncode, {j["name"]: j for j in jobs}, proc.stderr


def states(cli: Cli, run: str) -> Dict[str, str]:
    return {j["name"]: j["state"] for j in cli.json("poll", "--run", run)}


# -- Slurm, over ssh and SSH-free -------------------------------------------
class SlurmSide:
    def __init__(self, cli: Cli, platform: str, cluster: str, infra: Infra) -> None:
        self.cli, self.platform, self.cluster, self.infra = cli, platform, cluster, infra
        self.ids: List[str] = []

    def submit(self, tmp: Path, run: str, jobs: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
        got = []
        for n, job in enumerate(jobs):
            script = tmp / f"{run}-{n}.sh"
            script.write_text(job["script"])
            args = ["submit", "--platform", self.platform, "--run", run, "--name", job["name"]]
            args += [
                x for line in job.get("directives", {}).get("raw", []) for x in ("--raw", line)
            ]
            (one,) = self.cli.json(*args, str(script))
            self.ids.append(one["runner_id"])
            got.append(one)
        return got

    def queued(self, runner_id: str) -> str:
        """Slurm's word on the job: '' when it no longer has it pending or running."""
        plain = runner_id.split(";")[0]
        out = slurm(self.infra, "squeue", "-h", "-j", plain, "-o", "%T", cluster=self.cluster)
        return " ".join(s for s in out.stdout.split() if s in ("PENDING", "RUNNING", "SUSPENDED"))

    def cleanup(self) -> None:
        plain = [i.split(";")[0] for i in self.ids]
        if plain:
            slurm(self.infra, "scancel", *plain, cluster=self.cluster)


@pytest.fixture(params=["ssh", "ssh-free"])
def side(request: pytest.FixtureRequest, infra: Infra, tmp_path: Path) -> Iterator[SlurmSide]:
    require(infra, "slurm")
    require(infra, "ssh")
    if request.param == "ssh":
        cli = slurm_cli(tmp_path, infra, kill_grace=1)
        made = SlurmSide(cli, "hpc", "rjtest", infra)
    else:
        host: SshFreeHost = sshfree_host(infra, tmp_path / "h")
        cli = sshfree_cli(host, tmp_path)
        cli.config.write_text(cli.config.read_text() + "kill_grace = 1\n")
        made = SlurmSide(cli, "hfree", host.data["cluster"], infra)
    try:
        yield made
    finally:
        made.cleanup()


def test_slurm_kill_of_running_and_pending_jobs_is_verified(
    side: SlurmSide, tmp_path: Path
) -> None:
    run = run_name()
    side.submit(
        tmp_path,
        run,
        [
            {"name": "running", "script": "echo up\nsleep 600\n"},
            {"name": "pending", "script": "sleep 600\n", "directives": LATER},
            {"name": "stubborn", "script": STUBBORN},
        ],
    )
    wait_for(
        lambda: (
            states(side.cli, run)
            == {"running": "running", "pending": "submitted", "stubborn": "running"}
        ),
        "two jobs to run, one to wait",
        timeout=300,
    )
    refs = {j["name"]: j["job"] for j in side.cli.json("list", "--run", run)}
    rc, killed, err = kill(side.cli, *refs.values())
    assert rc == 0, err
    for name, job in killed.items():
        assert (job["state"], job["kill"]) == ("killed", "killed"), job
        # verified when kill returned: Slurm no longer has it pending or running
        assert side.queued(job["runner_id"]) == "", (name, side.queued(job["runner_id"]))
    assert killed["running"]["exit_signal"] == "TERM"  # its wrapper recorded the TERM
    assert "KILL after" not in killed["pending"]["kill_detail"]  # cancelled, never signalled
    # the job that ignored TERM got it, then the harder kill after kill_grace
    assert "KILL after 1 s" in killed["stubborn"]["kill_detail"], killed["stubborn"]


def test_slurm_kill_of_a_requeued_job_is_verified_by_slurm_not_by_its_old_end(
    side: SlurmSide, tmp_path: Path
) -> None:
    """The wrapper recorded the TERM that ended the first run: that end is not the
    kill's result; Slurm's word that the job is gone is."""
    run = run_name()
    (job,) = side.submit(tmp_path, run, [{"name": "requeued", "script": "sleep 600\n"}])
    wait_for(lambda: states(side.cli, run) == {"requeued": "running"}, "it to run", 300)
    plain = job["runner_id"].split(";")[0]
    done = slurm(side.infra, "scontrol", "requeue", plain, cluster=side.cluster)
    assert done.returncode == 0, done.stderr
    wait_for(lambda: states(side.cli, run) == {"requeued": "submitted"}, "the requeue", 300)
    rc, killed, err = kill(side.cli, job["job"])
    assert rc == 0, err
    got = killed["requeued"]
    assert (got["state"], got["kill"]) == ("killed", "killed"), got
    assert "its status file records the end" not in got["kill_detail"], got
    assert side.queued(job["runner_id"]) == ""


# -- background and at, on this machine ------------------------------------
@pytest.fixture(params=["background", "at"])
def local(request: pytest.FixtureRequest, infra: Infra, tmp_path: Path) -> Cli:
    if request.param == "at":
        require(infra, "at")
    return local_cli(tmp_path, f'runner = "{request.param}"\nkill_grace = 1\n')


def session_of(cli: Cli, job: Dict[str, Any]) -> int:
    """The job's wrapper pid: its session id (background) or group and session (at)."""
    (line,) = status_lines(cli.job_dir(job), "JOB_PID")[-1:]
    return int(line.split("=", 1)[1])


def test_a_job_ignoring_term_and_its_child_are_killed_after_the_grace(
    local: Cli, tmp_path: Path
) -> None:
    script = tmp_path / "stubborn.sh"
    script.write_text(STUBBORN)
    (job,) = local.json("submit", str(script))
    wait_for(lambda: local.json("poll", job["job"])[0]["state"] == "running", "it to run", 180)
    sid = session_of(local, job)
    wait_for(lambda: len(live_session(sid)) >= 4, "the job's child to start")
    rc, killed, err = kill(local, job["job"])
    assert rc == 0, err
    got = killed["stubborn.sh"]
    assert (got["state"], got["kill"], got["exit_signal"]) == ("killed", "killed", "KILL"), got
    assert "KILL after 1 s" in got["kill_detail"], got
    # the whole job is gone, its child included, when kill returned
    assert live_session(sid) == {}
    assert (local.job_dir(job) / "job.out").read_text().startswith("got-term")


def test_kill_of_a_job_that_already_ended_says_so_with_its_real_end(
    local: Cli, tmp_path: Path
) -> None:
    script = tmp_path / "quick.sh"
    script.write_text("exit 3\n")
    (job,) = local.json("submit", str(script))
    # it ends while the ledger still says submitted: no poll in between
    wait_for(lambda: status_lines(local.job_dir(job), "JOB_EXIT_TIME"), "it to end", 180)
    (end,) = status_lines(local.job_dir(job), "JOB_EXIT_TIME")
    rc, killed, err = kill(local, job["job"])
    assert rc == 0, err
    got = killed["quick.sh"]
    assert (got["state"], got["exit_code"], got["kill"]) == ("failed", 3, "already finished")
    assert end.split("=", 1)[1] in got["kill_detail"], got  # its real end, not the kill's time


def test_a_kill_that_cannot_be_verified_says_why_and_names_the_job(tmp_path: Path) -> None:
    """kill_timeout is the bound: a job that outlives it (it ignores TERM, and the
    harder kill is due only after kill_grace, beyond the bound) is 'not verified',
    exit 1, a message naming the job."""
    cli = local_cli(tmp_path, "kill_grace = 30\nkill_timeout = 1\n")
    script = tmp_path / "stubborn.sh"
    script.write_text(STUBBORN)
    (job,) = cli.json("submit", str(script))
    wait_for(lambda: cli.json("poll", job["job"])[0]["state"] == "running", "it to run", 180)
    sid = session_of(cli, job)
    try:
        rc, killed, err = kill(cli, job["job"])
        got = killed["stubborn.sh"]
        assert rc == 1 and got["kill"] == "not verified", got
        assert got["state"] == "running"
        assert f"job {job['job']}: kill not verified" in err, err  # names the job
        assert "still running after" in got["kill_detail"], got
        assert live_session(sid)  # honest: it does still run
    finally:
        for pid in live_session(sid):
            subprocess.run(["kill", "-9", str(pid)], capture_output=True, check=False)


def test_a_kill_whose_update_went_stale_is_judged_again(tmp_path: Path) -> None:
    """A poll moves the job to `running` while the kill works on it (it ignores TERM
    for the grace): the kill's own update, judged against `submitted`, is judged
    again against `running`, not dropped."""
    cli = local_cli(tmp_path, "kill_grace = 20\n")
    marker = tmp_path / "got-term"
    script = tmp_path / "stubborn.sh"
    script.write_text(f"trap 'touch {marker}' TERM\nwhile :; do sleep 0.2; done\n")
    (job,) = cli.json("submit", str(script))
    assert job["state"] == "submitted"
    wait_for(lambda: status_lines(cli.job_dir(job), "JOB_START_TIME"), "it to start", 180)
    result: Dict[str, Any] = {}
    killer = threading.Thread(
        target=lambda: result.update(zip("rks", kill(cli, job["job"]), strict=True))
    )
    killer.start()
    try:
        wait_for(marker.exists, "the kill's TERM")
        (polled,) = cli.json("poll", job["job"])
        assert polled["state"] == "running", polled
        assert killer.is_alive(), "the kill ended before the poll: the race was not made"
    finally:
        killer.join()
    assert result["r"] == 0, result["s"]
    assert result["k"]["stubborn.sh"]["state"] == "killed", result
    assert cli.json("list")[0]["state"] == "killed"


def test_at_kill_reaches_a_child_in_its_own_process_group(infra: Infra, tmp_path: Path) -> None:
    """A job that starts a child in a process group of its own (set -m): the whole
    session is the job, not only the wrapper's group."""
    require(infra, "at")
    cli = local_cli(tmp_path, 'runner = "at"\nkill_grace = 1\n')
    script = tmp_path / "groups.sh"
    script.write_text("set -m\nsleep 600 &\necho $! > child.pid\nwait\n")
    (job,) = cli.json("submit", str(script))
    pidfile = cli.job_dir(job) / "child.pid"
    wait_for(pidfile.exists, "the child to start", 180)
    wait_for(lambda: pidfile.read_text().strip(), "its pid")
    child = int(pidfile.read_text())
    try:
        rc, killed, err = kill(cli, job["job"])
        assert rc == 0, err
        assert killed["groups.sh"]["state"] == "killed"
        stat = read_proc_stat(child)
        assert stat is None or stat.state == "Z", stat
    finally:
        subprocess.run(["kill", "-9", str(child)], capture_output=True, check=False)
