"""10,000 jobs on one controller over five hosts: the poll cycle, Controller.poll of
1,000, resident memory.

    PYTHONPATH=src python3 bench/scale.py [--jobs 10000] [--repeat 5] [--local-only] [--cylc]

Needs the test infrastructure (tests/infra/up.sh) for the three ssh hosts
(host1, host2, host2b: sshd on loopback); two more "hosts" are local
platforms with their own run roots (the machine has no more sshd hosts).
The jobs are running background jobs that do nothing: their job dirs hold
the status file a started job has (submit lines, the wrapper's start), and
their runner id is one live `sleep` process of this machine, which every
loopback host sees, so the runner says running and nothing changes. Ten
thousand real processes would measure the machine, not jobrelay.

Measured, controller side, through the real agents (sessions from the
second poll on): the full cycle `Controller.poll(all jobs)` warm (agent
sessions up, status files unchanged since the last read: a stat each), the
same of 1,000 jobs of one host with the ledger (the issue's 60 ms figure),
and the process's resident memory after the cycles (VmRSS and peak VmHWM).
Beside each wall time, the controller process's own CPU time in it: on a
machine shared with other work the wall time stretches, the CPU time much
less (the agents' CPU, in their own processes on the hosts, is not in it).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from jobrelay.ledger.records import JobRecord, JobSpec
from jobrelay.ledger.store import Ledger
from jobrelay.manager.controller import Controller
from jobrelay.platforms.config import parse_platform
from jobrelay.platforms.model import Platform
from jobrelay.runners.proc_stat import read_proc_stat
from jobrelay.states import JobState

INFRA = Path(os.environ.get("JOBRELAY_TEST_INFRA", "/tmp/jobrelay-test-infra"))


def platforms(tmp: Path, tag: str, local_only: bool) -> tuple[dict[str, Platform], dict[str, Path]]:
    """Five platforms, one host each; and where each one's run root is on this machine."""
    found: dict[str, Platform] = {}
    roots: dict[str, Path] = {}
    for n in (1, 2):
        root = tmp / f"local{n}"
        found[f"local{n}"] = parse_platform(f"local{n}", {"run_root": str(root)}, "bench")
        roots[f"local{n}"] = root
    if local_only:
        for n in (3, 4, 5):
            root = tmp / f"local{n}"
            found[f"local{n}"] = parse_platform(f"local{n}", {"run_root": str(root)}, "bench")
            roots[f"local{n}"] = root
        return found, roots
    env = json.loads((INFRA / "env.json").read_text())
    for host in ("host1", "host2", "host2b"):
        data = env["hosts"][host]
        rel = f"jobrelay-scale-{tag}-{host}"
        table = {
            "hosts": [host],
            "transport": "ssh",
            "install_target": f"scale-{host}",
            "ssh_command": ["ssh", "-F", env["ssh_config"]],
            "run_root": f"~/{rel}",
        }
        found[host] = parse_platform(host, table, "bench")
        roots[host] = Path(data["home"]) / rel
    return found, roots


def make_jobs(
    ledger: Ledger, found: dict[str, Platform], roots: dict[str, Path], n: int, live: str
) -> list[JobRecord]:
    """``n`` jobs spread over the platforms, each a started background job."""
    names = sorted(found)
    specs = [
        JobSpec(
            run="scale",
            name=f"j{i}",
            platform=names[i % len(names)],
            install_target=found[names[i % len(names)]].install_target,
            runner="background",
            script_path="/bin/true",
        )
        for i in range(n)
    ]
    jobs = ledger.create_jobs(specs)
    for job in jobs:
        path = roots[job.platform] / job.job_dir
        path.mkdir(parents=True, exist_ok=True)
        (path / "job.status").write_text(
            "JOB_STATUS_VERSION=1\n"
            f"JOB_IDENTITY={ledger.identity(job)}\n"
            "JOB_RUNNER_NAME=background\n"
            "JOB_SUBMIT_TIME=2026-12-03T00:00:00Z\n"
            f"JOB_RUNNER_ID={live}\n"
            f"JOB_PID={live.split(':')[0]}\n"
            "JOB_HOST=bench\n"
            "JOB_START_TIME=2026-12-03T00:00:01Z\n"
        )
    for name, root in roots.items():
        if found[name].transport.value != "local":
            owner = Path(root).parent.stat()
            subprocess.run(["chown", "-R", f"{owner.st_uid}:{owner.st_gid}", str(root)], check=True)
    return jobs


def memory() -> tuple[float, float]:
    """This process's resident and peak resident memory, MB."""
    values = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            values[key] = int(rest.split()[0]) / 1024
    return values["VmRSS"], values["VmHWM"]


@dataclass
class Figures:
    """What one run measured (seconds, MB); Cylc's poll only with ``--cylc``."""

    jobs: int
    platforms: list[str]
    cold: float
    cycles: list[float]  # the first: sessions start (not counted)
    cycles_cpu: list[float]
    polls: list[float]  # Controller.poll of 1,000 jobs of one host
    polls_cpu: list[float]
    rss: float
    peak: float
    cylc: list[float] = field(default_factory=list)

    @property
    def cycle(self) -> float:
        return statistics.median(self.cycles[1:])


async def measure(jobs_n: int, repeat: int, local_only: bool, cylc_repeat: int) -> Figures:
    """The 10,000-job figures (and Cylc's poll of as many jobs, if ``cylc_repeat``)."""
    tmp = Path(tempfile.mkdtemp(prefix="jr-scale-"))
    found, roots = platforms(tmp, uuid.uuid4().hex[:8], local_only)
    sleeper = subprocess.Popen(["sleep", "3600"])
    stat = read_proc_stat(sleeper.pid)
    assert stat is not None
    live = f"{sleeper.pid}:{stat.starttime}"
    try:
        with Ledger.open(tmp / "ledger.sqlite") as ledger:
            jobs = make_jobs(ledger, found, roots, jobs_n, live)
            ctl = Controller(tmp, found, ledger)
            t0 = time.perf_counter()
            polled = await ctl.poll(jobs)
            cold = time.perf_counter() - t0
            states = {j.state for j in polled}
            assert states == {JobState.RUNNING}, states
            cycles, cpu = [], []
            for _ in range(repeat + 1):  # the first: sessions start
                jobs = ledger.find(run="scale")
                t0, c0 = time.perf_counter(), time.process_time()
                polled = await ctl.poll(jobs)
                cycles.append(time.perf_counter() - t0)
                cpu.append(time.process_time() - c0)
                assert all(j.state is JobState.RUNNING for j in polled)
            one_host = [j for j in ledger.find(run="scale") if j.platform == sorted(found)[0]]
            thousand = one_host[:1000]
            polls, polls_cpu = [], []
            for _ in range(repeat):
                t0, c0 = time.perf_counter(), time.process_time()
                await ctl.poll(thousand)
                polls.append(time.perf_counter() - t0)
                polls_cpu.append(time.process_time() - c0)
            rss, peak = memory()
            await ctl.close()
        figures = Figures(jobs_n, sorted(found), cold, cycles, cpu, polls, polls_cpu, rss, peak)
        if cylc_repeat:
            figures.cylc = cylc_poll(jobs_n, sleeper.pid, cylc_repeat)
        return figures
    finally:
        sleeper.kill()
        sleeper.wait()
        for root in roots.values():
            shutil.rmtree(root, ignore_errors=True)
        shutil.rmtree(tmp, ignore_errors=True)


def cylc_poll(jobs: int, pid: int, repeat: int) -> list[float]:
    """Cylc's poll of as many running jobs, on host1, in this run (bench/scale_cylc.py)."""
    from peers_common import Host, load_infra
    from scale_cylc import cylc_jobs, cylc_poll_seconds, remove

    host = Host(load_infra(), "host1")
    tag = uuid.uuid4().hex[:8]
    try:
        wf = cylc_jobs(host.ssh, host.name, Path(host.home), tag, jobs, pid)
        return cylc_poll_seconds(wf, repeat)
    finally:
        remove(Path(host.home), tag)


def show(f: Figures) -> None:
    def ms(values: list[float]) -> str:
        return ", ".join(f"{1000 * v:.0f}" for v in values)

    print(f"jobs: {f.jobs} over {len(f.platforms)} platforms ({', '.join(f.platforms)})")
    print(f"first poll (cold: agent installs, one-shot calls): {f.cold:.2f} s")
    print(
        f"full poll cycle, warm: median {f.cycle:.3f} s "
        f"(all: {', '.join(f'{c:.3f}' for c in f.cycles)}); the controller's CPU in it: "
        f"median {statistics.median(f.cycles_cpu[1:]):.3f} s"
    )
    print(
        f"Controller.poll of 1000 jobs (one host, ledger included): median "
        f"{1000 * statistics.median(f.polls):.0f} ms (all: {ms(f.polls)}); the controller's "
        f"CPU in it: median {1000 * statistics.median(f.polls_cpu):.0f} ms"
    )
    print(f"resident memory after the cycles: {f.rss:.0f} MB (peak {f.peak:.0f} MB)")
    if f.cylc:
        from scale_cylc import BATCHING

        cylc = statistics.median(f.cylc)
        print(
            f"Cylc 8.5.4 `cylc jobs-poll` of {f.jobs} running jobs on host1 ({BATCHING}): "
            f"median {cylc:.2f} s (all: {', '.join(f'{t:.2f}' for t in f.cylc)}): "
            f"{cylc / f.cycle:.0f} times jobrelay's warm cycle"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=10000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--local-only", action="store_true", help="five local platforms")
    parser.add_argument(
        "--cylc", action="store_true", help="also Cylc's poll of as many jobs (bench/scale_cylc.py)"
    )
    parser.add_argument("--cylc-repeat", type=int, default=3)
    args = parser.parse_args()
    cylc_repeat = args.cylc_repeat if args.cylc else 0
    show(asyncio.run(measure(args.jobs, args.repeat, args.local_only, cylc_repeat)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
