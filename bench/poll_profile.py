"""Controller.poll of 1,000 unchanged running jobs on one local platform: time, or profile.

    PYTHONPATH=src python3 bench/poll_profile.py [--jobs 1000] [--polls 9] [--profile]

The jobs are those of bench/scale.py (started background jobs whose runner
id is one live `sleep`); three polls warm the controller (agent session,
stamps), then ``--polls`` are timed, or profiled with cProfile (the 25
functions of most own time are printed).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import pstats
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from scale import make_jobs, platforms

from jobrelay.ledger.store import Ledger
from jobrelay.manager.controller import Controller
from jobrelay.runners.proc_stat import read_proc_stat


async def run(args: argparse.Namespace) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="jr-prof-"))
    found, roots = platforms(tmp, "p", True)
    found, roots = {"local1": found["local1"]}, {"local1": roots["local1"]}
    sleeper = subprocess.Popen(["sleep", "600"])
    stat = read_proc_stat(sleeper.pid)
    assert stat is not None
    try:
        with Ledger.open(tmp / "ledger.sqlite") as ledger:
            make_jobs(ledger, found, roots, args.jobs, f"{sleeper.pid}:{stat.starttime}")
            ctl = Controller(tmp, found, ledger)
            for _ in range(3):
                await ctl.poll(ledger.find(run="scale"))
            jobs = ledger.find(run="scale")
            profile = cProfile.Profile() if args.profile else None
            times, cpu = [], []
            for _ in range(args.polls):
                t0, c0 = time.perf_counter(), time.process_time()
                if profile:
                    profile.enable()
                await ctl.poll(jobs)
                if profile:
                    profile.disable()
                times.append(time.perf_counter() - t0)
                cpu.append(time.process_time() - c0)
            await ctl.close()
        print(
            f"Controller.poll of {args.jobs}: median {1000 * statistics.median(times):.0f} ms "
            f"(all: {', '.join(f'{1000 * t:.0f}' for t in times)}); the controller's CPU: "
            f"median {1000 * statistics.median(cpu):.0f} ms"
        )
        if profile:
            pstats.Stats(profile).sort_stats("tottime").print_stats(25)
    finally:
        sleeper.kill()
        sleeper.wait()
        shutil.rmtree(tmp, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--polls", type=int, default=9)
    parser.add_argument("--profile", action="store_true")
    asyncio.run(run(parser.parse_args()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
