"""Cylc beside bench/scale.py's poll of 10,000 running jobs, in the same run.

Cylc's scheduler polls a job host with ``cylc jobs-poll -- ROOT DIR...`` over
ssh, as bench/peers_poll.py drives it: batches of 100 job dirs (one call
cannot take many more running background jobs: it hangs on a full pipe),
four calls at a time (its process pool). Here its job dirs are made as
bench/scale.py makes jobrelay's: each holds the ``job.status`` of a started
background job (Cylc's keys, as its ``job.sh`` writes them), whose job id is
the same live ``sleep`` jobrelay's jobs name, so both runners answer
"running" about the same process and nothing changes between polls.

Needs the peers (bench/setup_peers.sh: Cylc 8.5.4 in /opt/jobrelay-bench).
"""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

from peers_cylc import CylcWorkflow
from peers_poll import CYLC_BATCH, CYLC_POOL, cylc_batched


def cylc_jobs(ssh: list[str], host: str, home: Path, tag: str, n: int, pid: int) -> CylcWorkflow:
    """``n`` started background jobs in a Cylc workflow's job log dirs on ``host``."""
    name = f"jrscale-{tag}"
    wf = CylcWorkflow(ssh, host, name, Path("/nonexistent"))  # job files are not written
    wf.dirs = [f"1/t{i:05d}/01" for i in range(n)]
    root = home / "cylc-run" / name / "log" / "job"
    for rel in wf.dirs:
        path = root / rel
        path.mkdir(parents=True)
        (path / "job.status").write_text(
            "CYLC_JOB_RUNNER_NAME=background\n"
            f"CYLC_JOB_ID={pid}\n"
            "CYLC_JOB_RUNNER_SUBMIT_TIME=2026-12-03T00:00:00Z\n"
            f"CYLC_JOB_PID={pid}\n"
            "CYLC_JOB_INIT_TIME=2026-12-03T00:00:01Z\n"
        )
    owner = home.stat()
    subprocess.run(
        ["chown", "-R", f"{owner.st_uid}:{owner.st_gid}", str(home / "cylc-run" / name)],
        check=True,
    )
    return wf


def cylc_poll_seconds(wf: CylcWorkflow, repeat: int) -> list[float]:
    """Seconds of each of ``repeat`` batched polls of all ``wf.dirs``, as Cylc's
    scheduler makes them; every job must come back running each time."""
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        found = cylc_batched(wf, wf.dirs)
        times.append(time.perf_counter() - t0)
        if found is None:
            raise SystemExit("Cylc: a batch of jobs-poll hung")
        running = [d for d in wf.dirs if found.get(d, {}).get("run_status") is None]
        if len(found) != len(wf.dirs) or len(running) != len(wf.dirs):
            raise SystemExit(f"Cylc answered {len(found)} of {len(wf.dirs)} jobs, some not running")
    return times


def remove(home: Path, tag: str) -> None:
    shutil.rmtree(home / "cylc-run" / f"jrscale-{tag}", ignore_errors=True)


BATCHING = f"batches of {CYLC_BATCH}, {CYLC_POOL} at a time"
