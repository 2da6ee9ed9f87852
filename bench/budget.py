"""The polling budget: N concurrent `jobrelay poll` processes against one Slurm cluster.

    python3 bench/budget.py [--processes 1 10 100] [--rate 6/1min] [--repeat 1]

Needs the test infrastructure (tests/infra/up.sh). One JOBRELAY_HOME (one
user), platform `hpc` over ssh to host1, runner slurm on cluster rjtest2
(the test cluster the other tests ask least: sdiag counts every user's RPCs).
100 held jobs (never run) are submitted once; then for each N, N processes
start at once, process k polling jobs k and k+1 (`jobrelay poll REF REF`).
Each N runs twice in the same run: with the budget (`runner_queries =
RATE`, the shared answer) and without it (`"unlimited"`: each process its
own squeue, the behaviour before the budget): the peer. Counted around each
round: slurmctld's job-info RPCs (`sdiag`, REQUEST_JOB_INFO and _SINGLE),
new ssh connections (host1's sshd log, "Accepted publickey"), the wall time,
what the budget allowed in that time (one query per interval, plus one), and
whether every process got the right answer (held jobs: submitted).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
INFRA = Path(os.environ.get("JOBRELAY_TEST_INFRA", "/tmp/jobrelay-test-infra"))
CLUSTER = "rjtest2"
JOBS = 100


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--processes", type=int, nargs="+", default=[1, 10, 100])
    parser.add_argument("--rate", default="6/1min")
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    env = json.loads((INFRA / "env.json").read_text())
    conf = env["slurm"]["confs"][CLUSTER]
    sshd_log = INFRA / "ssh" / "host1" / "sshd.log"
    home = Path(env["hosts"]["host1"]["home"])
    rel = f"rj-budget-{uuid.uuid4().hex[:8]}"
    tmp = Path(tempfile.mkdtemp(prefix="rj-budget-"))
    cli = Cli(tmp, env["ssh_config"], f"~/{rel}")
    ids: list[str] = []
    try:
        script = tmp / "job.sh"
        script.write_text("#!/bin/bash\ntrue\n")
        jobs = cli.submit(script, JOBS)
        ids = [j["runner_id"] for j in jobs if j.get("runner_id")]
        assert len(ids) == JOBS and all(j["state"] == "submitted" for j in jobs), jobs[:2]
        refs = [j["job"] for j in jobs]
        interval = rate_interval(args.rate)
        print(f"budget {args.rate} (one query per {interval:g} s), cluster {CLUSTER}")
        print("| processes | budget | wall s | job-info RPCs | allowed | ssh connections | right |")
        print("|---|---|---|---|---|---|---|")
        for n in args.processes:
            for _ in range(args.repeat):
                for rate in (args.rate, "unlimited"):
                    print(one_round(cli, refs, n, rate, interval, conf, sshd_log), flush=True)
    finally:
        plain = sorted({i.split(";")[0] for i in ids})
        if plain:
            subprocess.run(
                ["scancel", "-M", CLUSTER, *plain],
                env={**os.environ, "SLURM_CONF": conf},
                check=False,
            )
        shutil.rmtree(home / rel, ignore_errors=True)
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


def one_round(
    cli: Cli, refs: list[str], n: int, rate: str, interval: float, conf: str, sshd_log: Path
) -> str:
    """N processes at once, each polling two jobs; the table row."""
    cli.rate = rate
    shutil.rmtree(cli.tmp / "home" / "budget", ignore_errors=True)  # no shared answer yet
    rpcs0, conns0 = job_info_rpcs(conf), accepted(sshd_log)
    start = time.monotonic()
    answers = cli.concurrent([[refs[k % JOBS], refs[(k + 1) % JOBS]] for k in range(n)])
    took = time.monotonic() - start
    rpcs, conns = job_info_rpcs(conf) - rpcs0, accepted(sshd_log) - conns0
    right = sum(len(a) == 2 and all(j["state"] == "submitted" for j in a) for a in answers)
    allowed = "-" if rate == "unlimited" else str(math.floor(took / interval) + 1)
    return f"| {n} | {rate} | {took:.1f} | {rpcs} | {allowed} | {conns} | {right}/{n} |"


def rate_interval(text: str) -> float:
    sys.path.insert(0, str(ROOT / "src"))
    from jobrelay.platforms.rates import parse_rate

    return parse_rate(text).interval


def job_info_rpcs(conf: str) -> int:
    out = subprocess.run(
        ["sdiag"], env={**os.environ, "SLURM_CONF": conf}, capture_output=True, text=True
    ).stdout
    counts = re.findall(r"^\s*REQUEST_JOB_INFO(?:_SINGLE)?\s+\(\s*\d+\)\s+count:(\d+)", out, re.M)
    return sum(int(c) for c in counts)


def accepted(log: Path) -> int:
    """New ssh connections host1's sshd accepted (all users, since it started)."""
    try:
        return log.read_text(errors="replace").count("Accepted publickey for rjhost1")
    except OSError:
        return 0


class Cli:
    def __init__(self, tmp: Path, ssh_config: str, run_root: str) -> None:
        self.tmp = tmp
        self.ssh_config = ssh_config
        self.run_root = run_root
        self.rate = "unlimited"

    def env(self) -> dict[str, str]:
        config = self.tmp / "platforms.toml"
        config.write_text(
            "[platforms.hpc]\n"
            'hosts = ["host1"]\ntransport = "ssh"\nrunner = "slurm"\ninstall_target = "h1"\n'
            f'cluster = "{CLUSTER}"\nrunner_queries = "{self.rate}"\n'
            'ssh_connections = "unlimited"\n'  # counted, not limited: the runner budget is measured
            f"ssh_command = {json.dumps(['ssh', '-F', self.ssh_config])}\n"
            f'run_root = "{self.run_root}"\n'
        )
        return {
            **os.environ,
            "JOBRELAY_HOME": str(self.tmp / "home"),
            "JOBRELAY_CONFIG": str(config),
            "PYTHONPATH": str(ROOT / "src"),
        }

    def argv(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "jobrelay.cli.main", *args]

    def submit(self, script: Path, n: int) -> list[dict]:
        listing = self.tmp / "jobs.jsonl"
        listing.write_text(
            "".join(json.dumps({"script": str(script), "name": f"b{i}"}) + "\n" for i in range(n))
        )
        argv = self.argv("submit", "--platform", "hpc", "--run", "b", "--raw", "#SBATCH --hold")
        argv += ["--jobs", str(listing), "--json"]
        out = subprocess.run(argv, env=self.env(), capture_output=True, text=True, check=True)
        return [json.loads(line) for line in out.stdout.splitlines() if line.strip()]

    def concurrent(self, refs: list[list[str]]) -> list[list[dict]]:
        env = self.env()
        procs = [
            subprocess.Popen(
                self.argv("poll", *mine, "--json"),
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                text=True,
            )
            for mine in refs
        ]
        return [
            [json.loads(line) for line in p.communicate()[0].splitlines() if line.strip()]
            for p in procs
        ]


if __name__ == "__main__":
    sys.exit(main())
