"""Issue 6: jobrelay against Cylc and troika, side by side in one run (``bench/compare``).

    bench/compare [--quick] [--no-write] [--jobs N] [--poll-jobs N] [--scale-jobs N]

On the project's SSH test host (host1 of $JOBRELAY_TEST_INFRA/env.json), each
figure is measured for each system, the systems alternating run by run, and
the median is reported:
- cold start of the host-side command (empty poll);
- makespan of N trivial background jobs, submit -> all known finished;
- one poll of 1,000 jobs, half finished, half running (``sleep``), several
  ways for jobrelay (session, one-shot with and without multiplexing, with
  the ledger); and the poll of the finished half alone;
- kill of N running jobs until all are verified gone (``pgrep`` on the host);
- Issue 15: the warm poll of 10,000 running jobs (bench/scale.py), beside
  Cylc's poll of as many (bench/scale_cylc.py).
Peers live in their own virtualenvs under /opt/jobrelay-bench
(bench/setup_peers.sh). The table goes to stdout and into
docs/performance.md ("Issue 6: peers").
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "src"))
sys.path.insert(0, str(HERE))

from peers_common import SLEEP, Host, load_infra, median, timed, until  # noqa: E402
from peers_cylc import CYLC, CylcWorkflow, cylc_version  # noqa: E402
from peers_jobrelay import Jobrelay  # noqa: E402
from peers_poll import poll_stage  # noqa: E402
from peers_report import Row, host_python_version, render, write_doc  # noqa: E402
from peers_troika import TroikaSite, troika_version  # noqa: E402

from jobrelay.zipapps import build_agent  # noqa: E402

HOST_PYTHON = "/usr/bin/python3"


def log(t_start: float, text: str) -> None:
    print(f"[{time.monotonic() - t_start:.0f} s] {text}", file=sys.stderr, flush=True)


def cold_start(work: Path, starts: int) -> Row:
    """The host-side command's start, locally with the host's Python (no ssh)."""
    agent = build_agent(work / "agent")
    empty = json.dumps({"v": 1, "verb": "poll", "run_root": str(work), "jobs": []})
    a_s: list[float] = []
    c_s: list[float] = []
    for _ in range(starts):
        a_s.append(timed([HOST_PYTHON, "-S", str(agent)], empty))
        c_s.append(timed([CYLC, "jobs-poll", "--", str(work / "none")], None))
    row = Row(f"cold start of the host-side command, empty poll ({starts} starts)", "ms")
    row.jobrelay, row.cylc = median(a_s), median(c_s)
    row.words["troika"] = "no host-side command"
    return row


def makespan_cylc(host: Host, work: Path, n: int, tag: str, failures: list[str]) -> float:
    wf = CylcWorkflow(host.ssh, host.name, f"jrbench-{tag}", work / f"cylc-{tag}")
    wf.remote_init()
    wf.write_jobs(["echo ran"] * n)
    t0 = time.perf_counter()
    wf.submit(wf.dirs)
    pending = list(wf.dirs)

    def finished() -> bool:
        nonlocal pending
        summaries = wf.poll(pending) or {}
        pending = [d for d in pending if "run_status" not in summaries.get(d, {})]
        return not pending

    until(finished)
    took = time.perf_counter() - t0
    ran = host.run(f"cat cylc-run/{wf.name}/log/job/1/*/01/job.out | grep -c '^ran$'")
    if ran.strip() != str(n):
        failures.append(f"Cylc ({tag}): {ran.strip()} of {n} jobs ran")
    return took


def makespan_troika(site: TroikaSite, n: int, tag: str, failures: list[str]) -> float:
    scripts = site.write_jobs(f"make-{tag}", ["echo ran"] * n)
    t0 = time.perf_counter()
    site.submit(scripts)
    pending = list(scripts)

    def finished() -> bool:
        nonlocal pending
        pending = site.running(pending)
        return not pending

    until(finished)
    took = time.perf_counter() - t0
    ran = sum(s.with_suffix(".out").read_text() == "ran\n" for s in scripts)
    if ran != n:
        failures.append(f"troika ({tag}): {ran} of {n} jobs ran")
    return took


def kill_jobrelay(jr: Jobrelay, host: Host, n: int, run: str) -> float:
    jr.submit([SLEEP["jobrelay"]] * n, run)
    until(lambda: len(host.pids(SLEEP["jobrelay"])) >= n)
    t0 = time.perf_counter()
    jr.kill(jr.find(run))
    until(lambda: not host.pids(SLEEP["jobrelay"]))
    return time.perf_counter() - t0


def kill_cylc(host: Host, work: Path, n: int, tag: str) -> float:
    wf = CylcWorkflow(host.ssh, host.name, f"jrbench-{tag}", work / f"cylc-{tag}")
    wf.remote_init()
    wf.write_jobs([SLEEP["cylc"]] * n)
    wf.submit(wf.dirs)
    # running as Cylc knows it (job.status has CYLC_JOB_PID and the init time,
    # written by the backgrounded `cylc message started`): killed before that,
    # Cylc kills only the job's first process and the user's script lives on
    until(lambda: all("time_run" in v for v in (wf.poll(wf.dirs) or {"": {}}).values()))
    until(lambda: len(host.pids(SLEEP["cylc"])) >= n)
    t0 = time.perf_counter()
    wf.kill(wf.dirs)
    until(lambda: not host.pids(SLEEP["cylc"]))
    return time.perf_counter() - t0


def kill_troika(host: Host, site: TroikaSite, n: int, tag: str) -> int:
    """troika's kill, and how many of its jobs are still running 2 s later."""
    scripts = site.write_jobs(f"kill-{tag}", [SLEEP["troika"]] * n)
    site.submit(scripts)
    until(lambda: len(host.pids(SLEEP["troika"])) >= n)
    site.kill(scripts)
    time.sleep(2.0)
    left = host.pids(SLEEP["troika"])
    host.kill_pids(left)
    return len(left)


def scale_stage(jobs: int, repeat: int) -> tuple[list[Row], list[str]]:
    """Issue 15: the poll of ``jobs`` running jobs (bench/scale.py --cylc)."""
    import asyncio
    import statistics

    from scale import measure
    from scale_cylc import BATCHING

    f = asyncio.run(measure(jobs, 2 * repeat + 1, False, repeat))
    cycle = Row(
        f"poll of {jobs:,} running jobs, warm ({len(f.cycles) - 1}; Cylc {repeat} runs)", "s"
    )
    cycle.jobrelay, cycle.cylc = f.cycle, statistics.median(f.cylc)
    cycle.words["troika"] = "no batch poll"
    notes = [
        f"poll of {jobs:,}: jobrelay's `Controller.poll` over its five bench platforms "
        f"(host1, host2, host2b, two local: bench/scale.py), controller CPU "
        f"{statistics.median(f.cycles_cpu[1:]):.3f} s, resident memory {f.rss:.0f} MB; "
        f"Cylc's `jobs-poll` of as many on host1 ({BATCHING}, bench/scale_cylc.py). Cylc has "
        "no polling budget shared between processes, so the budget's rows have no Cylc column",
    ]
    return [cycle], notes


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="one run of each figure")
    ap.add_argument("--jobs", type=int, default=200, help="makespan and kill size (200)")
    ap.add_argument("--poll-jobs", type=int, default=1000, help="poll size (1000)")
    ap.add_argument("--no-write", action="store_true", help="do not update docs/performance.md")
    ap.add_argument(
        "--scale-jobs", type=int, default=10000, help="Issue 15's scale stage size (0: skip)"
    )
    args = ap.parse_args(argv)
    runs = 1 if args.quick else 2
    poll_runs = 1 if args.quick else 5  # cheap for jobrelay and Cylc; troika's once
    t_start = time.monotonic()
    host = Host(load_infra(), "host1")
    stamp = datetime.datetime.now().strftime("%Y%m%d%H%M%S")
    rows: list[Row] = []
    notes: list[str] = []
    failures: list[str] = []
    with tempfile.TemporaryDirectory(prefix="jobrelay-peers-") as tmp:
        work = Path(tmp)
        jr = Jobrelay(host.ssh, host.name, work / "jobrelay", stamp)
        site = TroikaSite(host.ssh, host.name, work / "troika")
        try:
            rows.append(cold_start(work, 10 if args.quick else 30))
            log(t_start, "cold start done")
            mk: dict[str, list[float]] = {"jobrelay": [], "cylc": [], "troika": []}
            for r in range(runs):
                mk["jobrelay"].append(jr.cli_makespan(args.jobs, f"make{r}"))
                mk["cylc"].append(makespan_cylc(host, work, args.jobs, f"{stamp}-m{r}", failures))
                mk["troika"].append(makespan_troika(site, args.jobs, f"m{r}", failures))
                log(t_start, f"makespan run {r}: {mk}")
            row = Row(
                f"makespan, {args.jobs} trivial jobs, submit -> all known finished ({runs} runs)",
                "s",
            )
            row.jobrelay, row.cylc = median(mk["jobrelay"]), median(mk["cylc"])
            row.troika = median(mk["troika"])
            rows.append(row)
            poll_rows, poll_notes = poll_stage(
                host, jr, site, work, stamp, args.poll_jobs, poll_runs
            )
            rows += poll_rows
            notes += poll_notes
            log(t_start, "poll done")
            kl: dict[str, list[float]] = {"jobrelay": [], "cylc": []}
            troika_left: list[int] = []
            for r in range(runs):
                kl["jobrelay"].append(kill_jobrelay(jr, host, args.jobs, f"kill{r}"))
                kl["cylc"].append(kill_cylc(host, work, args.jobs, f"{stamp}-k{r}"))
                troika_left.append(kill_troika(host, site, args.jobs, f"k{r}"))
            row = Row(f"kill {args.jobs} running jobs until verified gone ({runs} runs)", "s")
            row.jobrelay, row.cylc = median(kl["jobrelay"]), median(kl["cylc"])
            row.words["troika"] = "cannot"
            rows.append(row)
            notes.append(
                f"troika kill signals the local ssh client: {max(troika_left)} of "
                f"{args.jobs} jobs still running on the host 2 s later"
            )
            log(t_start, "kill done")
            if args.scale_jobs:
                scale_rows, scale_notes = scale_stage(args.scale_jobs, 1 if args.quick else 3)
                rows += scale_rows
                notes += scale_notes
                log(t_start, "scale done")
        finally:
            leftovers = [pid for pattern in SLEEP.values() for pid in host.pids(pattern)]
            host.kill_pids(leftovers)
            jr.close()
            failures += jr.failures
            # this run's job dirs on the host (jobrelay's run root, Cylc's workflows)
            host.run(f"rm -rf ~/jobrelay-bench-{stamp} ~/cylc-run/jrbench-{stamp}-*")
    took = time.monotonic() - t_start
    head = {
        "cylc": cylc_version(),
        "troika": troika_version(),
        "python": host_python_version(),
        "command": "bench/compare" + (" --quick" if args.quick else ""),
        "took": f"{took / 60:.0f} min",
    }
    table = render(rows, notes, failures, head)
    print(table)
    if not args.no_write:
        write_doc(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
