"""bench/compare's poll stage: one poll of N jobs on the SSH host, half finished,
half running, by each system; and the poll of the finished half alone."""

from __future__ import annotations

import concurrent.futures
import time
from pathlib import Path
from typing import Any

from peers_common import SLEEP, Host, median, until
from peers_cylc import CylcWorkflow
from peers_jobrelay import Jobrelay
from peers_report import Row
from peers_troika import TroikaSite

CYLC_HANG_LIMIT = 60.0  # seconds a single `cylc jobs-poll` may take before it counts as hung
CYLC_BATCH = 100  # the batches Cylc would need to avoid the hang ...
CYLC_POOL = 4  # ... run as its process pool runs commands (process pool size)


def cylc_batched(wf: CylcWorkflow, dirs: list[str]) -> dict[str, dict[str, Any]]:
    batches = [dirs[i : i + CYLC_BATCH] for i in range(0, len(dirs), CYLC_BATCH)]
    found: dict[str, dict[str, Any]] = {}
    with concurrent.futures.ThreadPoolExecutor(CYLC_POOL) as pool:
        for part in pool.map(lambda b: wf.poll(b, timeout=CYLC_HANG_LIMIT), batches):
            found.update(part or {})
    return found


def poll_stage(
    host: Host, jr: Jobrelay, site: TroikaSite, work: Path, stamp: str, n: int, runs: int
) -> tuple[list[Row], list[str]]:
    half = n // 2
    notes: list[str] = []
    jobs = jr.submit(["echo ran"] * half + [SLEEP["jobrelay"]] * half, "poll")
    wf = CylcWorkflow(host.ssh, host.name, f"jrbench-{stamp}-p", work / "cylc-poll")
    wf.remote_init()
    wf.write_jobs(["echo ran"] * half + [SLEEP["cylc"]] * half)
    wf.submit(wf.dirs)
    tscripts = site.write_jobs("poll", ["echo ran"] * half + [SLEEP["troika"]] * half)
    site.submit(tscripts)

    def settled() -> bool:
        nonlocal jobs
        jobs = jr.poll(jobs)
        return sum(j.state.is_final for j in jobs) == half

    until(settled)
    for _ in range(2):
        jobs = jr.poll(jobs)  # warm: the files' stamps are known and the session is up
    until(lambda: all("run_status" in s for s in cylc_batched(wf, wf.dirs[:half]).values()))
    until(lambda: len(host.pids(SLEEP["cylc"])) >= half)
    # troika's sleepers live as long as their ssh connection: some may drop
    until(lambda: not site.running(tscripts[:half]))
    finished = [j for j in jobs if j.state.is_final]

    t: dict[str, list[float]] = {
        k: [] for k in ("session", "mux", "nomux", "controller", "cylc", "batched", "troika")
    }
    f: dict[str, list[float]] = {"jobrelay": [], "cylc": [], "troika": []}
    cylc_hung = False
    alive: list[Path] = []
    for _ in range(runs):
        t["session"].append(jr.session_poll(jobs))
        t["mux"].append(jr.oneshot_poll(jobs, "bench"))
        t["nomux"].append(jr.oneshot_poll(jobs, "bench-nomux"))
        t["controller"].append(jr.controller_poll(jobs, "poll"))
        if not cylc_hung:
            t0 = time.perf_counter()
            summaries = wf.poll(wf.dirs, timeout=CYLC_HANG_LIMIT)
            if summaries is None:
                cylc_hung = True
            else:
                t["cylc"].append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        found = cylc_batched(wf, wf.dirs)
        t["batched"].append(time.perf_counter() - t0)
        if len(found) != n or sum("run_status" in s for s in found.values()) != half:
            notes.append(f"Cylc batched poll answered {len(found)} of {n} jobs")
        if not t["troika"]:  # once: a sweep of 1,000 troika processes takes minutes
            t0 = time.perf_counter()
            alive = site.running(tscripts)
            t["troika"].append(time.perf_counter() - t0)
        # the finished half alone: a figure Cylc's own way gives
        f["jobrelay"].append(jr.session_poll(finished))
        t0 = time.perf_counter()
        wf.poll(wf.dirs[:half])
        f["cylc"].append(time.perf_counter() - t0)
        if not f["troika"]:
            t0 = time.perf_counter()
            site.running(tscripts[:half])
            f["troika"].append(time.perf_counter() - t0)
    if len(alive) != half:
        notes.append(
            f"troika: {len(alive)} of its {half} sleeping jobs were known running at the poll"
        )
    if cylc_hung:
        notes.append(
            f"Cylc: `cylc jobs-poll` of the {n} jobs did not return within "
            f"{CYLC_HANG_LIMIT:.0f} s (its host process was then ended): it waits for `ps` "
            "to exit before reading its output (job_runner_mgr._jobs_poll_runner: proc.wait(), "
            f"then communicate()), and `ps` of {half} running jobs fills the 64 KiB pipe"
        )
    # the poll jobs' sleepers: each system's own kill (troika's cannot: see the kill row)
    jr.kill(jobs)
    wf.kill(wf.dirs)
    time.sleep(1.0)
    for pattern in SLEEP.values():
        host.kill_pids(host.pids(pattern))
    what = f"one poll of {n} jobs, {half} finished, {half} running"
    hung = f"hangs ({CYLC_HANG_LIMIT:.0f} s): one `jobs-poll`, as its scheduler does"
    rows = [
        Row(
            f"{what}: jobrelay's agent call (warm: its session)",
            "ms",
            median(t["session"]),
            median(t["cylc"]),
            median(t["troika"]),
            words={"cylc": hung},
        ),
        Row(
            f"{what}, Cylc in batches of {CYLC_BATCH}, {CYLC_POOL} at a time (to avoid the hang)",
            "ms",
            median(t["session"]),
            median(t["batched"]),
        ),
        Row(f"{what}: jobrelay one-shot agent call, multiplexed ssh", "ms", median(t["mux"])),
        Row(f"{what}: jobrelay one-shot agent call, new ssh connection", "ms", median(t["nomux"])),
        Row(f"{what}: jobrelay `Controller.poll` (ledger included)", "ms", median(t["controller"])),
        Row(
            f"one poll of the {half} finished jobs of those",
            "ms",
            median(f["jobrelay"]),
            median(f["cylc"]),
            median(f["troika"]),
        ),
    ]
    return rows, notes
