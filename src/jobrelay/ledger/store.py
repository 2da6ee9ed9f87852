"""The ledger: one SQLite file holding every job submission and its history.

Concurrency: several jobrelay processes may use one ledger at once. Each
change that touches more than one row runs in one ``BEGIN IMMEDIATE``
transaction (the write lock is taken up front, so two writers never
deadlock upgrading read locks); WAL lets readers go on meanwhile. A process
killed mid-transaction leaves nothing of that transaction behind.
"""

from __future__ import annotations

import os
import sqlite3
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Dict, Iterable, Iterator, List, Optional, Sequence, Tuple

from ..states import JobState
from . import schema
from .changes import add_event, apply_one, set_state
from .errors import JobNotFound, SchemaError
from .records import (
    ApplyReport,
    Event,
    EventKind,
    JobRecord,
    JobSpec,
    JobUpdate,
    RunSummary,
)
from .resolve import resolve_job
from .rows import (
    EVENT_COLUMNS,
    JOB_COLUMNS,
    RecordCache,
    check_run,
    check_text,
    event_from_row,
    job_dir_for,
    job_from_row,
    now,
    to_json,
)


class Ledger:
    """Handle on one ledger file. Open one per process (connections do not cross fork)."""

    def __init__(self, conn: sqlite3.Connection, path: str) -> None:
        self._conn = conn
        self.path = path
        #: this ledger's own id, unique across ledgers and machines (made once)
        self.ledger_id = schema.ledger_id(conn)
        self._records = RecordCache()  # rows read before: their records again

    # -- opening -------------------------------------------------------
    @classmethod
    def open(cls, path: str | os.PathLike[str]) -> Ledger:
        """Open (creating if needed) the ledger at ``path``.

        Raises ``SchemaError`` for a newer schema or a file that is not a ledger.
        """
        where = os.fspath(path)
        Path(where).parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(where, timeout=schema.BUSY_TIMEOUT_MS / 1000, isolation_level=None)
        conn.row_factory = sqlite3.Row
        try:
            schema.configure(conn)
            schema.ensure(conn, where)
        except sqlite3.DatabaseError as exc:
            conn.close()
            raise SchemaError(f"{where} is not a usable ledger: {exc}") from exc
        except BaseException:
            conn.close()
            raise
        return cls(conn, where)

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction: all of it or none of it."""
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            yield self._conn
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        self._conn.execute("COMMIT")

    @contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        """A consistent snapshot across several SELECTs."""
        self._conn.execute("BEGIN")
        try:
            yield self._conn
        finally:
            self._conn.execute("COMMIT")

    # -- writing -------------------------------------------------------
    def create_jobs(self, specs: Sequence[JobSpec]) -> List[JobRecord]:
        """Add jobs in state ``submitting``; ids and submit numbers assigned at once."""
        for spec in specs:
            check_run(spec.run)
            check_text("job name", spec.name)
        created: List[int] = []
        with self._write() as db:
            stamp = now()
            for spec in specs:
                (last,) = db.execute(
                    "SELECT COALESCE(MAX(submit_num), 0) FROM jobs WHERE run = ? AND name = ?",
                    (spec.run, spec.name),
                ).fetchone()
                cursor = db.execute(
                    "INSERT INTO jobs (run, name, submit_num, platform, host, install_target,"
                    " runner, job_dir, state, script_path, directives, env, created, updated,"
                    " output, ecflow_task)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, '', ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        spec.run,
                        spec.name,
                        last + 1,
                        spec.platform,
                        spec.host,
                        spec.install_target,
                        spec.runner,
                        JobState.SUBMITTING.value,
                        spec.script_path,
                        to_json(spec.directives),
                        to_json(spec.env),
                        stamp,
                        stamp,
                        spec.output,
                        spec.ecflow_task,
                    ),
                )
                job_id = cursor.lastrowid
                assert job_id is not None  # an INSERT into a rowid table always has one
                db.execute(
                    "UPDATE jobs SET job_dir = ? WHERE id = ?",
                    (job_dir_for(spec.run, self.ledger_id, job_id, spec.name), job_id),
                )
                add_event(db, job_id, stamp, EventKind.CREATE, f"submit number {last + 1}")
                created.append(job_id)
            return [self._get(db, i) for i in created]

    def identity(self, job: JobRecord) -> str:
        """The identity of ``job``'s submission: this ledger, the job, its submit number."""
        return f"{self.ledger_id}/{job.id}/{job.submit_num}"

    def record_submitted(self, job_id: int, host: str, runner_id: str) -> JobRecord:
        """The runner accepted the job: ``submitting`` -> ``submitted``.

        A job already past ``submitting`` (a poll got there first) keeps its
        state; host and runner id are recorded either way.
        """
        with self._write() as db:
            job = self._get(db, job_id)
            stamp = now()
            db.execute(
                "UPDATE jobs SET host = ?, runner_id = ?, updated = ? WHERE id = ?",
                (host, runner_id, stamp, job_id),
            )
            add_event(db, job_id, stamp, EventKind.SUBMIT, f"{runner_id} on {host}")
            if job.state in (JobState.SUBMITTING, JobState.UNKNOWN):
                set_state(db, job, JobState.SUBMITTED, "the runner accepted the job", stamp)
            return self._get(db, job_id)

    def apply(self, updates: Sequence[JobUpdate]) -> ApplyReport:
        """Apply a batch of updates in one transaction.

        An update that changes nothing writes nothing (no event, no new
        ``updated`` time). An unknown job id aborts the whole batch.
        """
        changed: List[int] = []
        stale: List[int] = []
        unchanged: List[int] = []
        with self._write() as db:
            stamp = now()
            current = self._get_many(db, [u.job_id for u in updates])
            for update in updates:
                job = current.get(update.job_id)
                if job is None:
                    raise JobNotFound(f"no job with id {update.job_id}")
                if update.expect_state is not None and job.state is not update.expect_state:
                    stale.append(job.id)
                    continue
                written = apply_one(db, job, update, stamp)
                if written is not None:
                    changed.append(job.id)
                    current[job.id] = written
                else:
                    unchanged.append(job.id)
        return ApplyReport(tuple(changed), tuple(stale), tuple(unchanged), current)

    def mark_kill_requested(self, job_ids: Iterable[int], detail: str = "") -> List[JobRecord]:
        """Remember that a kill was asked for (a later exit by signal is then ``killed``)."""
        ids = list(job_ids)
        with self._write() as db:
            stamp = now()
            for job_id in ids:
                job = self._get(db, job_id)
                if job.kill_requested:
                    continue
                db.execute(
                    "UPDATE jobs SET kill_requested = 1, updated = ? WHERE id = ?",
                    (stamp, job_id),
                )
                add_event(db, job_id, stamp, EventKind.KILL, detail or "kill requested")
            return [self._get(db, i) for i in ids]

    # -- reading -------------------------------------------------------
    def get(self, ref: str | int) -> JobRecord:
        """A job by id or by its reference ``run/id``."""
        if isinstance(ref, int):
            return self._get(self._conn, ref)
        run, job_id = _split_ref(ref)
        job = self._get(self._conn, job_id)
        if job.run != run:
            raise JobNotFound(f"no job {ref!r}: job {job_id} belongs to run {job.run!r}")
        return job

    def find(
        self,
        run: Optional[str] = None,
        ids: Optional[Iterable[int]] = None,
        states: Optional[Iterable[JobState]] = None,
        name: Optional[str] = None,
        refs: Optional[Iterable[str]] = None,
        script_path: Optional[str] = None,
    ) -> List[JobRecord]:
        """Jobs matching every filter given, oldest first. Unknown refs match nothing."""
        if refs is not None:
            wanted = {_split_ref(r) for r in refs}
            some = [i for _, i in wanted] if ids is None else ids
            found = self.find(run, some, states, name, script_path=script_path)
            return [j for j in found if (j.run, j.id) in wanted]
        where: List[str] = []
        args: List[Any] = []
        for column, values in (
            ("id", None if ids is None else list(ids)),
            ("state", None if states is None else [JobState(s).value for s in states]),
        ):
            if values is not None:
                if not values:
                    return []
                where.append(f"{column} IN ({', '.join('?' * len(values))})")
                args.extend(values)
        if run is not None:
            where.append("run = ?")
            args.append(run)
        if name is not None:
            # with the run given, "+name" keeps SQLite on the (run, name) index:
            # it would rather walk every job of that name in id order (for the
            # ORDER BY), thousands in a ledger of a million jobs
            where.append("name = ?" if run is None else "+name = ?")
            args.append(name)
        if script_path is not None:
            where.append("script_path = ?")
            args.append(script_path)
        sql = f"SELECT {JOB_COLUMNS} FROM jobs"  # noqa: S608 (fixed column names; values bound)
        if where:
            sql += " WHERE " + " AND ".join(where)
        record = self._records.record
        return [record(r) for r in self._conn.execute(sql + " ORDER BY id", args)]

    def events(self, job_id: int, kinds: Optional[Iterable[EventKind]] = None) -> List[Event]:
        """A job's history, oldest first."""
        return self._events("job_id = ?", job_id, kinds)

    def events_after(self, after: int, kinds: Optional[Iterable[EventKind]] = None) -> List[Event]:
        """Every job's events with an id above ``after``, oldest first (event ids only
        grow: a reader that keeps the last id it saw misses nothing and sees nothing twice)."""
        return self._events("id > ?", after, kinds)

    def _events(self, test: str, value: int, kinds: Optional[Iterable[EventKind]]) -> List[Event]:
        # ``test`` is one of the fixed conditions above, never input
        sql = f"SELECT {EVENT_COLUMNS} FROM events WHERE {test}"  # noqa: S608
        args: List[Any] = [value]
        if kinds is not None:
            wanted = [EventKind(k).value for k in kinds]
            sql += f" AND kind IN ({', '.join('?' * len(wanted))})"
            args.extend(wanted)
        return [event_from_row(r) for r in self._conn.execute(sql + " ORDER BY id", args)]

    def last_event_id(self) -> int:
        """The id of the newest event (0 in an empty ledger)."""
        (last,) = self._conn.execute("SELECT COALESCE(MAX(id), 0) FROM events").fetchone()
        return int(last)

    def latest(self) -> Optional[JobRecord]:
        """The job created last, if any (one indexed row, whatever the ledger's size)."""
        sql = f"SELECT {JOB_COLUMNS} FROM jobs ORDER BY id DESC LIMIT 1"  # noqa: S608
        row = self._conn.execute(sql).fetchone()
        return job_from_row(row) if row else None

    def runs(self) -> List[RunSummary]:
        """Every run in the ledger, oldest first, with a count of jobs per state."""
        with self._read() as db:
            totals = db.execute(
                "SELECT run, COUNT(*), MIN(created), MAX(updated), MIN(id) FROM jobs"
                " GROUP BY run ORDER BY MIN(id)"
            ).fetchall()
            per_state: Dict[str, Dict[str, int]] = {}
            for run, state, count in db.execute(
                "SELECT run, state, COUNT(*) FROM jobs GROUP BY run, state"
            ):
                per_state.setdefault(run, {})[state] = count
        return [
            RunSummary(run=r[0], jobs=r[1], created=r[2], updated=r[3], states=per_state[r[0]])
            for r in totals
        ]

    def resolve(self, arg: str, run: Optional[str] = None) -> JobRecord:
        """The job a CLI JOB argument means (see ``resolve.resolve_job``)."""
        return resolve_job(self, arg, run)

    @staticmethod
    def _get_many(db: sqlite3.Connection, job_ids: Sequence[int]) -> Dict[int, JobRecord]:
        """Jobs by id in few queries (a poll batch is a thousand jobs)."""
        found: Dict[int, JobRecord] = {}
        unique = sorted(set(job_ids))
        for i in range(0, len(unique), _IDS_PER_QUERY):
            part = unique[i : i + _IDS_PER_QUERY]
            marks = ", ".join("?" * len(part))
            sql = f"SELECT {JOB_COLUMNS} FROM jobs WHERE id IN ({marks})"  # noqa: S608
            for row in db.execute(sql, part):
                job = job_from_row(row)
                found[job.id] = job
        return found

    @staticmethod
    def _get(db: sqlite3.Connection, job_id: int) -> JobRecord:
        sql = f"SELECT {JOB_COLUMNS} FROM jobs WHERE id = ?"  # noqa: S608
        row = db.execute(sql, (job_id,)).fetchone()
        if row is None:
            raise JobNotFound(f"no job with id {job_id}")
        return job_from_row(row)


_IDS_PER_QUERY = 500  # under SQLite's oldest limit of 999 bound values


def _split_ref(ref: str) -> Tuple[str, int]:
    run, sep, tail = ref.rpartition("/")
    if not sep or not run or not tail.isdigit():
        raise JobNotFound(f"{ref!r} is not a job reference (expected RUN/ID)")
    return run, int(tail)
