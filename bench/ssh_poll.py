"""Issue 4 benchmark: one poll of N jobs on an SSH host, and the makespan of M jobs over SSH.

    PYTHONPATH=src python3 bench/ssh_poll.py [--jobs 1000] [--makespan 200] [--repeat 7]

Needs the test infrastructure (tests/infra/up.sh): host1 over ssh -F <env.json ssh_config>.
Measures the controller-side call, warm (master connection up, agent installed,
status files in the page cache), not CLI start-up:
- AgentCaller.call("poll", N jobs) in one batch (max_batch = N): one-shot (a new
  agent process per call, as a fresh caller makes it) with multiplexing on and
  off, and through the caller's agent session; alternating in the same run;
  medians of --repeat runs;
- Controller.poll of the same N jobs (ledger update included; the jobs are made
  non-final in the ledger first so the controller really asks);
- makespan: Controller.submit of M background jobs (`true`) + wait_final until all
  are known finished.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import tempfile
import time
import uuid
from dataclasses import replace
from pathlib import Path

from jobrelay.engine.protocol import JobRequest
from jobrelay.ledger.store import Ledger
from jobrelay.manager.agentcall import AgentCaller
from jobrelay.manager.controller import Controller, SubmitItem
from jobrelay.manager.waiting import wait_final
from jobrelay.platforms.config import parse_platform
from jobrelay.platforms.connect import transport_for
from jobrelay.states import JobState

INFRA = Path(os.environ.get("JOBRELAY_TEST_INFRA", "/tmp/jobrelay-test-infra"))


async def timed(coro_fn, repeat):  # type: ignore[no-untyped-def]
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        await coro_fn()
        times.append(time.perf_counter() - t0)
    return times


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--jobs", type=int, default=1000)
    ap.add_argument("--makespan", type=int, default=200)
    ap.add_argument("--repeat", type=int, default=7)
    args = ap.parse_args()
    env = json.loads((INFRA / "env.json").read_text())
    root = f"jobrelay-bench-{uuid.uuid4().hex[:8]}"
    table = {
        "hosts": ["host1"],
        "transport": "ssh",
        "install_target": "bench1",
        "ssh_command": ["ssh", "-F", env["ssh_config"]],
        "run_root": f"~/{root}",
        "max_batch": args.jobs,
    }
    mux = parse_platform("bench", table, "bench")
    plain = replace(mux, name="bench-plain", multiplex=False)
    tmp = Path(tempfile.mkdtemp(prefix="jr-bench-"))
    script = tmp / "true.sh"
    script.write_text("true\n")
    try:
        with Ledger.open(tmp / "ledger.sqlite") as ledger:
            ctl = Controller(tmp, {"bench": mux}, ledger)
            # makespan first (cold controller, agent not yet installed: counts the install)
            t0 = time.perf_counter()
            items = [SubmitItem(script, f"m{i}") for i in range(args.makespan)]
            jobs = await ctl.submit(items, "bench", "mk")
            done = await wait_final(ctl, [j.id for j in jobs])
            makespan = time.perf_counter() - t0
            assert all(j.state is JobState.SUCCEEDED for j in done), "makespan jobs failed"
            # N finished jobs to poll
            items = [SubmitItem(script, f"p{i}") for i in range(args.jobs)]
            jobs = await ctl.submit(items, "bench", "poll")
            jobs = await wait_final(ctl, [j.id for j in jobs])
            requests = [JobRequest(job=j.ref, dir=j.job_dir) for j in jobs]
            transports = {p.name: (p, transport_for(p)) for p in (mux, plain)}
            served = AgentCaller(mux, transports["bench"][1], tmp)  # keeps its session
            for _ in range(2):  # warm-up: masters up, then the session
                reply = await served.call("host1", "poll", requests, 60)
                assert reply.complete and len(reply.replies) == args.jobs, reply.error
            results: dict[str, list[float]] = {"bench": [], "bench-plain": [], "session": []}
            for _ in range(args.repeat):
                for name, (p, t) in transports.items():
                    oneshot = AgentCaller(p, t, tmp)  # a new caller: a one-shot call
                    oneshot.agent_file  # noqa: B018 (built before the clock starts)
                    t0 = time.perf_counter()
                    reply = await oneshot.call("host1", "poll", requests, 60)
                    results[name].append(time.perf_counter() - t0)
                    assert reply.complete, reply.error
                t0 = time.perf_counter()
                await served.call("host1", "poll", requests, 60)
                results["session"].append(time.perf_counter() - t0)

            async def controller_poll() -> None:
                # make them non-final again so the controller asks the host
                with ledger._write() as db:
                    db.execute("UPDATE jobs SET state = 'running' WHERE run = 'poll'")
                await ctl.poll(ledger.find(run="poll"))

            await controller_poll()  # warm
            ctl_times = await timed(controller_poll, args.repeat)
            await served.close()
            for _p, t in transports.values():
                await t.close()
            await ctl.close()
        on = statistics.median(results["bench"]) * 1000
        off = statistics.median(results["bench-plain"]) * 1000
        sess = statistics.median(results["session"]) * 1000
        print(f"agent poll of {args.jobs} jobs, warm, session:               median {sess:.1f} ms")
        print(f"agent poll of {args.jobs} jobs, warm, one-shot, multiplexed: median {on:.1f} ms")
        print(f"agent poll of {args.jobs} jobs, warm, one-shot, no multiplex: median {off:.1f} ms")
        print(f"ratio off/on: {off / on:.2f}; one-shot multiplexed / session: {on / sess:.2f}")
        print(
            f"Controller.poll of {args.jobs} jobs (ledger included): "
            f"median {statistics.median(ctl_times) * 1000:.1f} ms"
        )
        print(f"makespan of {args.makespan} jobs over ssh (submit -> all final): {makespan:.2f} s")
        print("raw ms on:", [round(x * 1000, 1) for x in results["bench"]])
        print("raw ms off:", [round(x * 1000, 1) for x in results["bench-plain"]])
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.rmtree(Path(env["hosts"]["host1"]["home"]) / root, ignore_errors=True)


if __name__ == "__main__":
    asyncio.run(main())
