"""Slurm submit rate through jobrelay vs a bare sbatch loop; squeue RPCs per poll.

    python3 bench/slurm_submit.py [--jobs 200] [--poll-jobs 1000]

Needs the test infrastructure (tests/infra/up.sh): jobrelay submits through
ssh to host1 (the agent runs sbatch there as rjhost1); the bare loop runs
``sbatch`` on host1 in one ssh session, timed on host1 itself (the most
favourable figure for the bare loop). All jobs are held (``--hold``) so they
never run, and are cancelled at the end. RPCs are counted with ``sdiag``
(all users: the least of a few polls is reported).
"""

from __future__ import annotations

import argparse
import json
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
HOLD = "#SBATCH --hold"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=200)
    parser.add_argument("--poll-jobs", type=int, default=1000)
    args = parser.parse_args()
    env = json.loads((INFRA / "env.json").read_text())
    conf = env["slurm"]["conf"]
    home = Path(env["hosts"]["host1"]["home"])
    ssh = ["ssh", "-F", env["ssh_config"], "host1"]
    rel = f"rj-bench-{uuid.uuid4().hex[:8]}"
    tmp = Path(tempfile.mkdtemp(prefix="rj-bench-"))
    ids: list[str] = []
    try:
        script = tmp / "job.sh"
        script.write_text("#!/bin/bash\ntrue\n")
        cli = Bench(tmp, env["ssh_config"], f"~/{rel}")
        cli.submit(script, 1, "warm")  # installs the agent; not timed

        bare_rate, bare_ids = bare_loop(ssh, rel, args.jobs)
        ids += bare_ids
        start = time.monotonic()
        jobs = cli.submit(script, args.jobs, "rate")
        took = time.monotonic() - start
        ids += [j["runner_id"] for j in jobs if j.get("runner_id")]
        assert all(j["state"] == "submitted" for j in jobs), jobs[:3]
        relay_rate = args.jobs / took
        print(f"submit {args.jobs} jobs: bare sbatch loop {bare_rate:.1f} jobs/s (on host1)")
        print(
            f"submit {args.jobs} jobs: jobrelay {relay_rate:.1f} jobs/s "
            f"({took:.2f} s, whole CLI call incl. ssh) = {100 * relay_rate / bare_rate:.0f} %"
        )

        more = cli.submit(script, args.poll_jobs, "poll", max_batch=args.poll_jobs)
        ids += [j["runner_id"] for j in more if j.get("runner_id")]
        for batch in (args.poll_jobs, 100):
            cli.max_batch = batch
            costs = []
            for _ in range(5):
                first = job_info_rpcs(conf)
                polled = cli.run("poll", "--run", "poll", "--json")
                costs.append(job_info_rpcs(conf) - first)
            n = len([line for line in polled.splitlines() if line.strip()])
            print(
                f"poll {n} jobs, max_batch={batch}: job-info RPCs per poll cycle "
                f"min {min(costs)} (all tries {costs})"
            )
    finally:
        plain = sorted({i.split(";")[0] for i in ids})
        for k in range(0, len(plain), 500):
            subprocess.run(
                ["scancel", *plain[k : k + 500]],
                env={**os.environ, "SLURM_CONF": conf},
                check=False,
            )
        shutil.rmtree(home / rel, ignore_errors=True)
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


class Bench:
    def __init__(self, tmp: Path, ssh_config: str, run_root: str) -> None:
        self.tmp = tmp
        self.ssh_config = ssh_config
        self.run_root = run_root
        self.max_batch = 100

    def run(self, *args: str) -> str:
        config = self.tmp / "platforms.toml"
        config.write_text(
            "[platforms.bench]\n"
            'hosts = ["host1"]\ntransport = "ssh"\nrunner = "slurm"\ninstall_target = "h1"\n'
            'runner_queries = "unlimited"\n'  # RPCs of each poll's own query
            f"ssh_command = {json.dumps(['ssh', '-F', self.ssh_config])}\n"
            f'run_root = "{self.run_root}"\nmax_batch = {self.max_batch}\n'
        )
        env = {
            **os.environ,
            "JOBRELAY_HOME": str(self.tmp / "home"),
            "JOBRELAY_CONFIG": str(config),
            "PYTHONPATH": str(ROOT / "src"),
        }
        argv = [sys.executable, "-m", "jobrelay.cli.main", *args]
        return subprocess.run(argv, env=env, capture_output=True, text=True, check=True).stdout

    def submit(self, script: Path, n: int, run: str, max_batch: int = 100) -> list[dict]:
        self.max_batch = max_batch
        listing = self.tmp / f"{run}.jsonl"
        listing.write_text(
            "".join(json.dumps({"script": str(script), "name": f"b{i}"}) + "\n" for i in range(n))
        )
        out = self.run(
            "submit",
            "--platform",
            "bench",
            "--run",
            run,
            "--raw",
            HOLD,
            "--jobs",
            str(listing),
            "--json",
        )
        return [json.loads(line) for line in out.splitlines() if line.strip()]


def bare_loop(ssh: list[str], rel: str, n: int) -> tuple[float, list[str]]:
    """n sbatch calls in a bash loop on host1; the rate as host1 measures it."""
    loop = (
        f"mkdir -p ~/{rel}/bare && cd ~/{rel}/bare && printf '#!/bin/bash\\ntrue\\n' > job.sh"
        f" && s=$(date +%s.%N) && for i in $(seq {n}); do"
        " sbatch --parsable --hold -o /dev/null -e /dev/null job.sh; done"
        " && e=$(date +%s.%N) && echo TIME $s $e"
    )
    out = subprocess.run([*ssh, loop], capture_output=True, text=True, check=True).stdout
    match = re.search(r"TIME (\S+) (\S+)", out)
    assert match, out
    seconds = float(match.group(2)) - float(match.group(1))
    ids = [line.strip() for line in out.splitlines() if re.fullmatch(r"\d+", line.strip())]
    return n / seconds, ids


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


if __name__ == "__main__":
    sys.exit(main())
