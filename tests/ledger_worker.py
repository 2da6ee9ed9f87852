"""A separate jobrelay process working on a ledger, for tests/test_ledger.py.

Run as a script: ``python ledger_worker.py MODE LEDGER ...``. Modes:
  churn RUN WORKER ROUNDS  create jobs and update them, print the ids made (JSON)
  batch RUN STOP_AT        apply one update per job of RUN in one batch; with
                           STOP_AT > 0, freeze inside the transaction when the
                           STOP_AT-th job UPDATE is about to run and say "mid";
                           with 0, say "done" after the commit. Then wait to be killed.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from jobrelay.ledger import JobSpec, JobUpdate, Ledger
from jobrelay.states import JobState
from jobrelay.status.facts import Message

SHARED_NAMES = ("shared", "also shared; $(touch /tmp/x) 'q' \"dq\"\nline two")


def churn(path: str, run: str, worker: str, rounds: int) -> None:
    made = []
    with Ledger.open(path) as ledger:
        for i in range(rounds):
            specs = [
                JobSpec(run, name, "localhost", "localhost", "background", "/bin/true")
                for name in (*SHARED_NAMES, f"own {worker}")
            ]
            jobs = ledger.create_jobs(specs)
            made.extend(j.id for j in jobs)
            ledger.apply(
                [
                    JobUpdate(
                        j.id,
                        state=JobState.SUBMITTED,
                        reason=f"worker {worker} round {i}",
                        runner_id=str(j.id),
                        messages=(Message("t", "INFO", f"from {worker}"),),
                    )
                    for j in jobs
                ]
            )
    print(json.dumps(made), flush=True)


def batch(path: str, run: str, stop_at: int) -> None:
    ledger = Ledger.open(path)
    jobs = ledger.find(run=run)
    updates = [
        JobUpdate(
            j.id,
            state=JobState.RUNNING,
            reason="big batch",
            messages=(Message("t", "INFO", "batch message"),),
        )
        for j in jobs
    ]
    seen = 0

    def trace(sql: str) -> None:
        nonlocal seen
        if sql.startswith("UPDATE jobs SET"):
            seen += 1
            if seen == stop_at:
                print("mid", flush=True)
                while True:  # frozen inside the open transaction until SIGKILL
                    time.sleep(60)

    if stop_at > 0:
        ledger._conn.set_trace_callback(trace)
    ledger.apply(updates)
    print("done", flush=True)
    while True:
        time.sleep(60)


if __name__ == "__main__":
    mode, path, *rest = sys.argv[1:]
    if mode == "churn":
        churn(path, rest[0], rest[1], int(rest[2]))
    elif mode == "batch":
        batch(path, rest[0], int(rest[1]))
    else:
        sys.exit(f"unknown mode {mode!r}")
