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
import shutil
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


def figures(ledger: Ledger, repeat: int) -> dict[str, float]:
    """The figures for the ledger's last run R; the query plans printed once."""
    last = ledger._conn.execute("SELECT MAX(id) FROM jobs").fetchone()[0]
    run = ledger.get(last).run
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

    return {
        "list --run R (1,000 jobs)": median_ms(lambda: ledger.find(run=run), repeat),
        "resolve R/ID": median_ms(lambda: ledger.resolve(f"{run}/{ids[500]}"), repeat),
        "resolve ID": median_ms(lambda: ledger.resolve(str(ids[500])), repeat),
        "resolve NAME in R": median_ms(lambda: ledger.resolve(name, run), repeat),
        "poll cycle's ledger part (1,000 jobs)": median_ms(poll_writes, repeat),
    }


def plans(ledger: Ledger) -> None:
    conn = ledger._conn
    run, name = conn.execute("SELECT run, name FROM jobs ORDER BY id DESC LIMIT 1").fetchone()
    ids = [r[0] for r in conn.execute("SELECT id FROM jobs WHERE run = ? LIMIT 2", (run,))]
    cols = JOB_COLUMNS
    for label, sql, args in (
        ("find(run)", f"SELECT {cols} FROM jobs WHERE run = ? ORDER BY id", (run,)),
        ("find(ids)", f"SELECT {cols} FROM jobs WHERE id IN (?, ?) ORDER BY id", tuple(ids)),
        (
            "find(run, name)",
            f"SELECT {cols} FROM jobs WHERE run = ? AND +name = ? ORDER BY id",
            (run, name),
        ),
        ("find(name)", f"SELECT {cols} FROM jobs WHERE name = ? ORDER BY id", (name,)),
        ("events", "SELECT id FROM events WHERE job_id = ? ORDER BY id", (ids[0],)),
    ):
        plan = "; ".join(r[-1] for r in conn.execute("EXPLAIN QUERY PLAN " + sql, args))
        print(f"  plan {label}: {plan}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds (medians)")
    parser.add_argument("--keep", help="a dir to keep the filled ledgers in, and reuse")
    args = parser.parse_args()
    tmp = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="jr-ledger-"))
    tmp.mkdir(parents=True, exist_ok=True)
    sizes = (RUN_SIZE, args.rows)
    results: dict[int, list[dict[str, float]]] = {rows: [] for rows in sizes}
    try:
        ledgers = {}
        for rows in sizes:
            path = tmp / f"ledger-{rows}.sqlite"
            if not path.exists():
                t0 = time.perf_counter()
                with Ledger.open(path) as ledger:
                    fill(ledger, rows)
                print(f"filled {rows} rows in {time.perf_counter() - t0:.0f} s", flush=True)
            ledgers[rows] = Ledger.open(path)
            print(f"ledger of {rows} jobs:")
            plans(ledgers[rows])
        for _ in range(args.rounds):  # alternating: the machine's load falls on both
            for rows in sizes:
                results[rows].append(figures(ledgers[rows], args.repeat))
        for ledger in ledgers.values():
            ledger.close()
    finally:
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
    small_rows, big_rows = sizes
    print(f"\n| figure | {RUN_SIZE} rows | {args.rows} rows | ratio |")
    print("|---|---|---|---|")
    for label in results[small_rows][0]:
        small = statistics.median(r[label] for r in results[small_rows])
        big = statistics.median(r[label] for r in results[big_rows])
        print(f"| {label} | {small:.2f} ms | {big:.2f} ms | {big / small:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
