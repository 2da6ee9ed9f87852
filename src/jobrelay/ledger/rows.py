"""Conversions between SQLite rows and ledger records, and value checks."""

from __future__ import annotations

import json
import re
import sqlite3
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any, Mapping

from ..engine.protocol import LEDGER_PREFIX_DIGITS
from ..states import JobState
from .errors import InvalidName
from .records import Event, EventKind, ExitSource, JobRecord

JOB_COLUMNS = (
    "id, run, name, submit_num, platform, host, install_target, runner, runner_id, job_dir, "
    "state, exit_code, exit_signal, exit_source, error, kill_requested, forgot_count, "
    "unreachable_since, script_path, directives, env, created, updated, start_time, exit_time, "
    "output, ecflow_task, ecflow_told"
)
EVENT_COLUMNS = "id, job_id, time, kind, detail, severity, source_time"

_SLUG_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def now() -> str:
    """Controller time, ISO 8601 UTC with microseconds (sorts as text)."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def job_from_row(row: sqlite3.Row) -> JobRecord:
    """A row of ``SELECT {JOB_COLUMNS}``, by position (names cost twice as much)."""
    (
        id_,
        run,
        name,
        submit_num,
        platform,
        host,
        install_target,
        runner,
        runner_id,
        job_dir,
        state,
        exit_code,
        exit_signal,
        exit_source,
        error,
        kill_requested,
        forgot_count,
        unreachable_since,
        script_path,
        directives,
        env,
        created,
        updated,
        start_time,
        exit_time,
        output,
        ecflow_task,
        ecflow_told,
    ) = row
    return JobRecord(
        id=id_,
        run=run,
        name=name,
        submit_num=submit_num,
        platform=platform,
        host=host,
        install_target=install_target,
        runner=runner,
        runner_id=runner_id,
        job_dir=job_dir,
        state=JobState(state),
        exit_code=exit_code,
        exit_signal=exit_signal,
        exit_source=ExitSource(exit_source) if exit_source is not None else None,
        error=error,
        kill_requested=bool(kill_requested),
        forgot_count=forgot_count,
        unreachable_since=unreachable_since,
        script_path=script_path,
        directives=_frozen_json(directives),
        env=_frozen_json(env),
        created=created,
        updated=updated,
        start_time=start_time,
        exit_time=exit_time,
        output=output,
        ecflow_task=ecflow_task,
        ecflow_told=bool(ecflow_told),
    )


class RecordCache:
    """The records last made from the job rows this ledger connection read.

    A row equal to the one a record was made from gives that same record
    object back: a scheduler re-reading 10,000 unchanged jobs each cycle
    pays a C-level row comparison per job instead of building each record
    again, and what it holds about a job (``manager/quiet.py``) is then
    recognised by identity. Bounded: the oldest entries go first.
    """

    MAX = 100_000  # about 40 MB at most for a scheduler's whole working set

    def __init__(self) -> None:
        self._by_id: dict[int, tuple[sqlite3.Row, JobRecord]] = {}

    def record(self, row: sqlite3.Row) -> JobRecord:
        hit = self._by_id.get(row[0])
        if hit is not None and hit[0] == row:
            return hit[1]
        job = job_from_row(row)
        if hit is None and len(self._by_id) >= self.MAX:
            for old in list(self._by_id)[: self.MAX // 10]:
                del self._by_id[old]
        self._by_id[row[0]] = (row, job)
        return job


def event_from_row(row: sqlite3.Row) -> Event:
    return Event(
        id=row["id"],
        job_id=row["job_id"],
        time=row["time"],
        kind=EventKind(row["kind"]),
        detail=row["detail"],
        severity=row["severity"],
        source_time=row["source_time"],
    )


def to_json(value: Mapping[str, Any]) -> str:
    return json.dumps(dict(value), sort_keys=True, separators=(",", ":"))


_EMPTY: Mapping[str, Any] = MappingProxyType({})


def _frozen_json(text: str) -> Mapping[str, Any]:
    if text == "{}":  # most jobs: no directives, no env
        return _EMPTY
    value = json.loads(text)
    return MappingProxyType(value if isinstance(value, dict) else {})


def check_text(what: str, value: str) -> str:
    """Any characters SQLite and UTF-8 can hold: refuse NUL and lone surrogates."""
    if not value:
        raise InvalidName(f"{what} is empty")
    if "\x00" in value:
        raise InvalidName(f"{what} {value!r} contains a NUL character")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InvalidName(f"{what} {value!r} is not valid Unicode text: {exc.reason}") from None
    return value


def check_run(run: str) -> str:
    """Run names appear in references (``run/id``) and in paths on hosts."""
    check_text("run name", run)
    if "/" in run or run in (".", "..") or run.startswith("-"):
        raise InvalidName(f"run name {run!r} must not contain '/', start with '-' or be . or ..")
    if any(ord(c) < 32 or ord(c) == 127 for c in run):
        raise InvalidName(f"run name {run!r} contains a control character")
    return run


def ledger_prefix(ledger_id: str) -> str:
    """What every job dir name of this ledger starts with (``<prefix>-<id>-<slug>``)."""
    return ledger_id[:LEDGER_PREFIX_DIGITS]


def job_dir_for(run: str, ledger_id: str, job_id: int, name: str) -> str:
    """Job dir relative to the run root: the ledger and the id make it unique
    (two ledgers may use one run name), the slug makes it readable. Two levels
    below the run dir, as always: jobs reach installed files at
    ``$JOBRELAY_JOB_DIR/../..``."""
    slug = _SLUG_UNSAFE.sub("_", name)[:40].strip("._") or "job"
    return f"{run}/jobs/{ledger_prefix(ledger_id)}-{job_id}-{slug}"
