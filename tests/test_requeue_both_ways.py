"""A requeued Slurm job reads the same through the agent (SSH) and SSH-free.

Real Slurm, real sshd, real gate: one job per platform is requeued while it
runs (``scontrol requeue``, as an administrator or a preemption would), so its
wrapper records the TERM that ended the first run while Slurm holds the job
again. Both platforms run the same host-side engine, so both must say
``submitted`` (requeued, not ``failed``), a kill must cancel the requeued job
(not answer "already finished"), and a requeued job let run again must end
``succeeded`` with its second run's exit.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable

import pytest
from cli_harness import Cli
from conftest import Infra, require
from slurm_harness import DEADLINE, slurm, slurm_cli
from sshfree_harness import SshFreeHost, run_name, sshfree_cli, sshfree_host

SCRIPT = (
    "#!/bin/bash\n"
    'echo "run ${SLURM_RESTART_COUNT:-0}"\n'
    'if [ "${SLURM_RESTART_COUNT:-0}" -ge 1 ]; then exit 0; fi\n'
    "sleep 600\n"
)


class Side:
    """One platform's CLI, its run, and the Slurm cluster behind it."""

    def __init__(self, cli: Cli, platform: str, cluster: str, run: str) -> None:
        self.cli, self.platform, self.cluster, self.run = cli, platform, cluster, run
        self.ids: dict[str, str] = {}  # job name -> runner id

    def submit(self, script: Path, names: list[str]) -> None:
        for name in names:
            (job,) = self.cli.json(
                "submit",
                "--platform",
                self.platform,
                "--run",
                self.run,
                "--name",
                name,
                str(script),
            )
            self.ids[name] = job["runner_id"]

    def jobs(self) -> dict[str, dict[str, Any]]:
        return {j["name"]: j for j in self.cli.json("poll", "--run", self.run)}

    def slurm(self, infra: Infra, *argv: str) -> None:
        plain = [self.ids[n].split(";")[0] for n in argv[1:]]
        done = slurm(infra, "scontrol", argv[0], ",".join(plain), cluster=self.cluster)
        assert done.returncode == 0, done.stderr

    def release(self, infra: Infra, name: str) -> None:
        # a requeued job waits ~2 min before it may start again: let it go now
        rid = self.ids[name].split(";")[0]
        slurm(infra, "scontrol", "update", f"jobid={rid}", "StartTime=now", cluster=self.cluster)


def until(sides: list[Side], done: Callable[[dict[str, dict[str, Any]]], bool]) -> list[Any]:
    """Poll every side until ``done`` holds for each; their last answers."""
    end = time.monotonic() + DEADLINE
    while True:
        answers = [side.jobs() for side in sides]
        if all(done(a) for a in answers) or time.monotonic() > end:
            return answers
        time.sleep(2)


@pytest.fixture
def sides(infra: Infra, tmp_path: Path) -> list[Side]:
    require(infra, "slurm")
    require(infra, "ssh")
    host: SshFreeHost = sshfree_host(infra, tmp_path / "h")
    for part in ("free", "ssh"):
        (tmp_path / part).mkdir()
    free = Side(sshfree_cli(host, tmp_path / "free"), "hfree", host.data["cluster"], run_name())
    ssh = Side(slurm_cli(tmp_path / "ssh", infra), "hpc", "rjtest", run_name())
    return [ssh, free]


def test_a_requeued_job_is_submitted_then_cancelled_or_succeeds_on_both(
    sides: list[Side], infra: Infra, tmp_path: Path
) -> None:
    script = tmp_path / "requeue.sh"
    script.write_text(SCRIPT)
    try:
        for side in sides:
            side.submit(script, ["to-kill", "to-finish"])
        names = ("to-kill", "to-finish")
        answers = until(sides, lambda jobs: all(jobs[n]["state"] == "running" for n in names))
        for answer in answers:
            assert {n: answer[n]["state"] for n in names} == dict.fromkeys(names, "running")

        for side in sides:
            side.slurm(infra, "requeue", *names)
        # The first run ended by TERM, recorded by its wrapper; Slurm holds the job again.
        answers = until(sides, lambda jobs: all(jobs[n]["state"] == "submitted" for n in names))
        for side, answer in zip(sides, answers, strict=True):
            for n in names:
                assert answer[n]["state"] == "submitted", (side.platform, answer[n])
                assert answer[n]["runner_id"] == side.ids[n]  # same id: the same job

        # A kill of the requeued job cancels it: it is not "already finished".
        for side in sides:
            (killed,) = side.cli.json("kill", answer_ref(side, "to-kill"))
            assert killed["state"] in ("submitted", "killed"), (side.platform, killed)
        for side in sides:
            side.release(infra, "to-finish")
        answers = until(
            sides,
            lambda jobs: (
                jobs["to-kill"]["state"] == "killed" and jobs["to-finish"]["state"] == "succeeded"
            ),
        )
        for side, answer in zip(sides, answers, strict=True):
            assert answer["to-kill"]["state"] == "killed", (side.platform, answer["to-kill"])
            done = answer["to-finish"]
            assert (done["state"], done.get("exit_code")) == ("succeeded", 0), side.platform
            # Slurm no longer has the killed job: cancelled, not left pending
            rid = side.ids["to-kill"].split(";")[0]
            listed = slurm(infra, "squeue", "-h", "-j", rid, "-t", "PD,R", cluster=side.cluster)
            assert listed.stdout.strip() == "", (side.platform, listed.stdout)
    finally:
        for side in sides:
            plain = [i.split(";")[0] for i in side.ids.values()]
            if plain:
                slurm(infra, "scancel", *plain, cluster=side.cluster)


def answer_ref(side: Side, name: str) -> str:
    (job,) = [j for j in side.cli.json("list", "--run", side.run) if j["name"] == name]
    return str(job["job"])
