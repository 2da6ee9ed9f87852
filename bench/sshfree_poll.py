"""Time SSH-free submit and poll cycles on the test host hostH (tests/infra/up.sh).

    PYTHONPATH=src python3 bench/sshfree_poll.py [N_JOBS] [CYCLES]

Submits N sleeping jobs in one SshFreeCaller call (one rsync push + N
sbatch), waits until the node's 16 CPUs run wrappers, times CYCLES poll calls (each:
one rsync pull through jobrelay's gate + one squeue), then kills them (one
pull + one scancel) and removes the job dirs. Prints one line per figure.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from jobrelay.engine.protocol import JobRequest
from jobrelay.manager.sshfree import SshFreeCaller
from jobrelay.platforms.connect import transport_for
from jobrelay.platforms.model import Platform, TransportKind

INFRA = Path(os.environ.get("JOBRELAY_TEST_INFRA", "/tmp/jobrelay-test-infra"))


async def main(n: int, cycles: int) -> None:
    env = json.loads((INFRA / "env.json").read_text())
    sf = env["sshfree"]
    conf = env["slurm"]["confs"][sf["cluster"]]
    plat = Platform(
        name="bench",
        hosts=(sf["host"],),
        transport=TransportKind.SSH_FREE,
        runner="slurm",
        install_target=sf["host"],
        ssh_command=("ssh", "-F", sf["ssh_config"]),
        run_root=sf["run_root"],
        cluster=sf["cluster"],
        runner_prefix=("runuser", "-u", sf["user"], "--", "env", f"SLURM_CONF={conf}"),
    )
    run = f"bench-{uuid.uuid4().hex[:8]}"
    jobs = [
        JobRequest(job=f"{run}/{i}", dir=f"{run}/{i}", runner="slurm", script="sleep 600\n")
        for i in range(n)
    ]
    transport = transport_for(plat)
    home = Path(tempfile.mkdtemp(prefix="jr-bench-"))
    caller = SshFreeCaller(plat, transport, home)
    host = sf["host"]
    try:
        t = time.perf_counter()
        sub = await caller.call(host, "submit", jobs, timeout=120)
        print(f"submit {n} jobs (1 rsync push + {n} sbatch): {time.perf_counter() - t:.2f} s")
        ids = {ref: line.runner_id or "" for ref, line in sub.replies.items()}
        asked = [JobRequest(job=j.job, dir=j.dir, runner_id=ids[j.job]) for j in jobs]
        # The test node has 16 CPUs: the rest of the jobs stay pending (also asked about).
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            reply = await caller.call(host, "poll", asked, timeout=120)
            started = [r for r in reply.replies.values() if r.status and r.status.started]
            if len(started) >= min(n, 16):
                break
            await asyncio.sleep(1)
        times = []
        for _ in range(cycles):
            t = time.perf_counter()
            reply = await caller.call(host, "poll", asked, timeout=120)
            times.append(time.perf_counter() - t)
            states = {r.runner.state.value for r in reply.replies.values() if r.runner}
            assert states <= {"running", "pending"}, states
        print(
            f"poll cycle, {n} running or pending jobs (1 rsync pull + 1 squeue): "
            f"median {statistics.median(times) * 1000:.0f} ms, "
            f"min {min(times) * 1000:.0f} ms, max {max(times) * 1000:.0f} ms ({cycles} cycles)"
        )
        t = time.perf_counter()
        await caller.call(host, "kill", asked, timeout=120)
        print(f"kill {n} jobs (1 rsync pull + 1 scancel): {time.perf_counter() - t:.2f} s")
    finally:
        await transport.close()
        subprocess.run(
            ["nsenter", f"--mount={sf['mntns']}", "--", "rm", "-rf", f"{sf['run_root']}/{run}"],
            check=False,
        )
        subprocess.run(["rm", "-rf", str(home)], check=False)


if __name__ == "__main__":
    asyncio.run(
        main(
            int(sys.argv[1]) if len(sys.argv) > 1 else 50,
            int(sys.argv[2]) if len(sys.argv) > 2 else 10,
        )
    )
