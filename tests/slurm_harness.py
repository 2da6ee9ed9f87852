"""The real CLI against the real Slurm clusters, through ssh to host1 (rjhost1).

The agent runs on host1 as rjhost1 (the "login node"); its sshd sets
SLURM_CONF to the test cluster's conf, so sbatch/squeue/scancel there talk to
cluster rjtest (and to rjtest2 with ``--clusters``).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any, Callable, Dict, List, Sequence

from cli_harness import Cli
from conftest import Infra

USER = "rjhost1"
DEADLINE = 420.0  # seconds; a loaded machine is slow, never a failure by itself


def slurm_cli(tmp: Path, infra: Infra, *, cluster: str | None = None, **keys: object) -> Cli:
    home = Path(infra.hosts["host1"]["home"])
    rel = f"rj-e2e-{uuid.uuid4().hex[:8]}"
    cli = Cli(home=tmp / "home", config=tmp / "platforms.toml", run_root=home / rel)
    write_config(cli, infra, f"~/{rel}", cluster=cluster, **keys)
    return cli


def write_config(
    cli: Cli, infra: Infra, run_root: str, *, cluster: str | None = None, **keys: object
) -> None:
    lines = [
        "[platforms.hpc]",
        'hosts = ["host1"]',
        'transport = "ssh"',
        'runner = "slurm"',
        'install_target = "host1"',
        f"ssh_command = {json.dumps(['ssh', '-F', infra.ssh_config])}",
        f'run_root = "{run_root}"',
    ]
    if cluster:
        lines.append(f'cluster = "{cluster}"')
    # these tests look at one poll's own runner query: no shared answers
    # unless a test asks for a budget (tests/test_budget_slurm.py)
    keys.setdefault("runner_queries", "unlimited")
    lines.extend(f"{k} = {json.dumps(v)}" for k, v in keys.items())
    cli.config.write_text("\n".join(lines) + "\n", encoding="utf-8")


def conf(infra: Infra, cluster: str = "rjtest") -> str:
    slurm = infra.data["slurm"]
    return str(slurm.get("confs", {}).get(cluster, slurm["conf"]))


def slurm(infra: Infra, *argv: str, cluster: str = "rjtest") -> subprocess.CompletedProcess[str]:
    """A Slurm command as root against ``cluster`` (for what users cannot do: requeue)."""
    env = {**os.environ, "SLURM_CONF": conf(infra, cluster)}
    return subprocess.run(
        list(argv), env=env, capture_output=True, text=True, timeout=60, check=False
    )


def submit_jobs(
    cli: Cli, tmp: Path, run: str, jobs: Sequence[Dict[str, Any]]
) -> List[Dict[str, Any]]:
    """All ``jobs`` ({script text, name, directives}) in ONE `jobrelay submit` call."""
    lines = []
    for n, job in enumerate(jobs):
        script = tmp / f"script-{n}.sh"
        script.write_text(job["script"], encoding="utf-8")
        lines.append(
            json.dumps(
                {
                    "script": str(script),
                    "name": job["name"],
                    "directives": job.get("directives", {}),
                }
            )
        )
    listing = tmp / "jobs.jsonl"
    listing.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return cli.json("submit", "--platform", "hpc", "--run", run, "--jobs", str(listing))


def poll_until(
    cli: Cli,
    run: str,
    done: Callable[[Dict[str, Dict[str, Any]]], bool],
    between: Callable[[], None] = lambda: None,
) -> Dict[str, Dict[str, Any]]:
    """Poll the run until ``done(jobs by name)``; returns the last answer."""
    end = time.monotonic() + DEADLINE
    while True:
        jobs = {j["name"]: j for j in cli.json("poll", "--run", run)}
        if done(jobs) or time.monotonic() > end:
            return jobs
        between()
        time.sleep(2)


def job_info_rpcs(infra: Infra, cluster: str = "rjtest") -> int:
    """slurmctld's count of job-info RPCs (what one squeue costs), all users."""
    out = slurm(infra, "sdiag", cluster=cluster).stdout
    counts = re.findall(r"^\s*REQUEST_JOB_INFO(?:_SINGLE)?\s+\(\s*\d+\)\s+count:(\d+)", out, re.M)
    return sum(int(c) for c in counts)


def cleanup(infra: Infra, cli: Cli, ids: Sequence[str], cluster: str = "rjtest") -> None:
    plain = sorted({i.split(";")[0] for i in ids if i})
    if plain:
        slurm(infra, "scancel", *plain, cluster=cluster)
    shutil.rmtree(cli.run_root, ignore_errors=True)
