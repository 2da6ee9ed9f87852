"""bench/compare's poll stage: one poll of N jobs on the SSH host, half finished,
half running, by each system; and the poll of the finished half alone.

jobrelay and Cylc are measured side by side, alternating, with only their own
jobs on the host; troika after them, alone. Why apart: a running troika job
holds an ssh session (``ssh HOST bash -s``), and 500 of them use up the host
user's pipe allowance (``/proc/sys/fs/pipe-user-pages-soft``), after which
every new pipe of that user holds one page (4 KiB). Cylc's ``jobs-poll`` waits
for ``ps`` to exit before reading its output, so under that pressure any
``ps`` answer over 4 KiB (some 35 running jobs) hangs it: measured beside
troika's jobs, Cylc would be measured against troika, not against jobrelay.
"""

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


def cylc_batched(wf: CylcWorkflow, dirs: list[str]) -> dict[str, dict[str, Any]] | None:
    """Cylc's poll of ``dirs`` in batches, 4 at a time; None if a batch hung."""
    batches = [dirs[i : i + CYLC_BATCH] for i in range(0, len(dirs), CYLC_BATCH)]
    found: dict[str, dict[str, Any]] = {}
    with concurrent.futures.ThreadPoolExecutor(CYLC_POOL) as pool:
        parts = list(pool.map(lambda b: wf.poll(b, timeout=CYLC_HANG_LIMIT), batches))
    if any(part is None for part in parts):
        return None
    for part in parts:
        found.update(part or {})
    return found


def poll_stage(
    host: Host, jr: Jobrelay, site: TroikaSite, work: Path, stamp: str, n: int, runs: int
) -> tuple[list[Row], list[str]]:
    half = n // 2
    notes: list[str] = []
    t: dict[str, list[float]] = {
        k: [] for k in ("session", "mux", "nomux", "controller", "cylc", "batched", "troika")
    }
    f: dict[str, list[float]] = {"jobrelay": [], "cylc": [], "troika": []}

    # ---- jobrelay and Cylc, alternating
    jobs = jr.submit(["echo ran"] * half + [SLEEP["jobrelay"]] * half, "poll")
    wf = CylcWorkflow(host.ssh, host.name, f"jrbench-{stamp}-p", work / "cylc-poll")
    wf.remote_init()
    wf.write_jobs(["echo ran"] * half + [SLEEP["cylc"]] * half)
    wf.submit(wf.dirs)

    def settled() -> bool:
        nonlocal jobs
        jobs = jr.poll(jobs)
        return sum(j.state.is_final for j in jobs) == half

    until(settled)
    for _ in range(2):
        jobs = jr.poll(jobs)  # warm: the files' stamps are known and the session is up
    until(lambda: all("run_status" in s for s in (cylc_batched(wf, wf.dirs[:half]) or {}).values()))
    until(lambda: len(host.pids(SLEEP["cylc"])) >= half)
    finished = [j for j in jobs if j.state.is_final]
    cylc_hung = batch_hung = False
    for _ in range(runs):
        t["session"].append(jr.session_poll(jobs))
        t["mux"].append(jr.oneshot_poll(jobs, "bench"))
        t["nomux"].append(jr.oneshot_poll(jobs, "bench-nomux"))
        t["controller"].append(jr.controller_poll(jobs, "poll"))
        if not cylc_hung:
            t0 = time.perf_counter()
            answer = wf.poll(wf.dirs, timeout=CYLC_HANG_LIMIT)
            took = time.perf_counter() - t0
            cylc_hung = answer is None
            if answer is not None and check_cylc(answer, n, half, notes, "one jobs-poll"):
                t["cylc"].append(took)
        if not batch_hung:
            t0 = time.perf_counter()
            found = cylc_batched(wf, wf.dirs)
            took = time.perf_counter() - t0
            batch_hung = found is None
            if found is not None and check_cylc(found, n, half, notes, "batched poll"):
                t["batched"].append(took)
        f["jobrelay"].append(jr.session_poll(finished))  # the finished half alone
        t0 = time.perf_counter()
        if wf.poll(wf.dirs[:half], timeout=CYLC_HANG_LIMIT) is not None:
            f["cylc"].append(time.perf_counter() - t0)
    jr.kill(jobs)
    wf.kill(wf.dirs)
    time.sleep(1.0)
    for system in ("jobrelay", "cylc"):
        host.kill_pids(host.pids(SLEEP[system]))

    # ---- troika, alone: one sweep of each (a sweep of 1,000 troika processes takes minutes)
    tscripts = site.write_jobs("poll", ["echo ran"] * half + [SLEEP["troika"]] * half)
    site.submit(tscripts)
    until(lambda: len(host.pids(SLEEP["troika"])) >= half)
    until(lambda: not site.running(tscripts[:half]))
    t0 = time.perf_counter()
    alive = site.running(tscripts)
    t["troika"].append(time.perf_counter() - t0)
    t0 = time.perf_counter()
    site.running(tscripts[:half])
    f["troika"].append(time.perf_counter() - t0)
    if len(alive) != half:
        notes.append(f"troika: {len(alive)} of its {half} sleeping jobs were known running")
    host.kill_pids(host.pids(SLEEP["troika"]))  # troika's kill cannot (see the kill row)

    if cylc_hung:
        notes.append(
            f"Cylc: one `cylc jobs-poll` of the {n} jobs did not return within "
            f"{CYLC_HANG_LIMIT:.0f} s (its host process was then ended): it waits for `ps` to "
            "exit before reading its output (job_runner_mgr._jobs_poll_runner: proc.wait(), "
            f"then communicate()), and `ps` of {half} running jobs filled the pipe"
        )
    if batch_hung:
        notes.append(f"Cylc: a batch of {CYLC_BATCH} hung as well: no batched figure")
    what = f"one poll of {n:,} jobs, {half} finished, {half} running ({runs} runs; troika 1)"
    hung = f"hangs: one `jobs-poll` as its scheduler runs it (> {CYLC_HANG_LIMIT:.0f} s)"
    rows = [
        Row(
            f"{what}: jobrelay's agent call (warm: its session)",
            "ms",
            median(t["session"]),
            median(t["cylc"]),
            median(t["troika"]),
            words={"cylc": hung} if cylc_hung else {},
        ),
        Row(
            f"{what}, Cylc in batches of {CYLC_BATCH}, {CYLC_POOL} at a time "
            "(not its scheduler's way)",
            "ms",
            median(t["session"]),
            median(t["batched"]),
            words={"cylc": "hangs"} if batch_hung else {},
        ),
        Row(f"{what}: jobrelay one-shot agent call, multiplexed ssh", "ms", median(t["mux"])),
        Row(f"{what}: jobrelay one-shot agent call, new ssh connection", "ms", median(t["nomux"])),
        Row(f"{what}: jobrelay `Controller.poll` (ledger included)", "ms", median(t["controller"])),
        Row(
            f"one poll of the {half} finished jobs of those ({runs} runs; troika 1)",
            "ms",
            median(f["jobrelay"]),
            median(f["cylc"]),
            median(f["troika"]),
        ),
    ]
    return rows, notes


def check_cylc(
    found: dict[str, dict[str, Any]], n: int, half: int, notes: list[str], what: str
) -> bool:
    """A Cylc answer counts only if it answered every job, and half as finished."""
    ended = sum("run_status" in s for s in found.values())
    if len(found) == n and ended == half:
        return True
    notes.append(f"Cylc {what}: {len(found)} of {n} jobs answered, {ended} finished (not counted)")
    return False
