"""A ledger of 1,000,000 jobs against one of 1,000: lookups and a poll's writes.

    PYTHONPATH=src python3 bench/ledger_scale.py [--rows 1000000] [--repeat 7]

Two ledgers are filled through the ledger's own API (runs of 1,000 jobs):
one with 1,000 rows, one with ``--rows``. On each, for the last run R:
`list --run R` (``Ledger.find(run=R)``), reference resolution of `R/ID`, a
bare id and a job name (``Ledger.resolve``), and the ledger's part of a poll
cycle of R's 1,000 jobs (``find(ids=...)`` and one ``apply`` of 1,000
state changes, as ``Controller.poll`` does). Medians of ``--repeat``; the
query plans SQLite chooses are printed (no "SCAN jobs" may appear).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from jobrelay.ledger.records import JobSpec, JobUpdate
from jobrelay.ledger.rows import JOB_COLUMNS
from jobrelay.ledger.store import Ledger
from jobrelay.states import JobState

RUN_SIZE = 1000


def fill(ledger: Ledger, rows: int) -> None:
    for start in range(0, rows, RUN_SIZE):
        run = f"run{start // RUN_SIZE}"
        specs = [
            JobSpec(run, f"task{i}", "p", "t", "background", f"/scripts/s{i % 50}.sh")
            for i in range(min(RUN_SIZE, rows - start))
        ]
        ledger.create_jobs(specs)


def median_ms(action: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        action()
        times.append(time.perf_counter() - t0)
    return 1000 * statistics.median(times)


def measure(path: Path, rows: int, repeat: int) -> dict[str, float]:
    t0 = time.perf_counter()
    with Ledger.open(path) as ledger:
        fill(ledger, rows)
    print(f"  filled {rows} rows in {time.perf_counter() - t0:.0f} s", flush=True)
    with Ledger.open(path) as ledger:
        run = f"run{(rows - 1) // RUN_SIZE}"
        jobs = ledger.find(run=run)
        ids = [j.id for j in jobs]
        name = jobs[len(jobs) // 2].name
        flip = [JobState.RUNNING, JobState.SUBMITTED]
        turn = [0]

        def poll_writes() -> None:
            state = flip[turn[0] % 2]
            turn[0] += 1
            found = ledger.find(ids=ids)
            ledger.apply([JobUpdate(j.id, state=state, reason="bench") for j in found])

        figures = {
            "list --run R (1,000 jobs)": median_ms(lambda: ledger.find(run=run), repeat),
            "resolve R/ID": median_ms(lambda: ledger.resolve(f"{run}/{ids[500]}"), repeat),
            "resolve ID": median_ms(lambda: ledger.resolve(str(ids[500])), repeat),
            "resolve NAME in R": median_ms(lambda: ledger.resolve(name, run), repeat),
            "poll cycle's ledger part (1,000 jobs)": median_ms(poll_writes, repeat),
        }
        conn = ledger._conn
        for label, sql, args in (
            ("find(run)", f"SELECT {JOB_COLUMNS} FROM jobs WHERE run = ? ORDER BY id", (run,)),
            ("find(ids)", f"SELECT {JOB_COLUMNS} FROM jobs WHERE id IN (?, ?)", (ids[0], ids[1])),
            (
                "find(run, name)",
                f"SELECT {JOB_COLUMNS} FROM jobs WHERE run = ? AND name = ?",
                (run, name),
            ),
            ("find(name)", f"SELECT {JOB_COLUMNS} FROM jobs WHERE name = ? ORDER BY id", (name,)),
            ("events", "SELECT id FROM events WHERE job_id = ? ORDER BY id", (ids[0],)),
            (
                "submit_num",
                "SELECT MAX(submit_num) FROM jobs WHERE run = ? AND name = ?",
                (run, name),
            ),
        ):
            plan = "; ".join(r[-1] for r in conn.execute("EXPLAIN QUERY PLAN " + sql, args))
            print(f"  plan {label}: {plan}")
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="jr-ledger-"))
    results = {}
    for rows in (RUN_SIZE, args.rows):
        print(f"ledger of {rows} jobs:", flush=True)
        results[rows] = measure(tmp / f"ledger-{rows}.sqlite", rows, args.repeat)
    print(f"\n| figure | {RUN_SIZE} rows | {args.rows} rows | ratio |")
    print("|---|---|---|---|")
    for label, small in results[RUN_SIZE].items():
        big = results[args.rows][label]
        print(f"| {label} | {small:.2f} ms | {big:.2f} ms | {big / small:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
