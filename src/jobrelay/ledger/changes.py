"""Writing one job's changes: columns, state events, messages, notes.

Called inside the store's write transactions; nothing here commits.
"""

from __future__ import annotations

import enum
import sqlite3
from collections import Counter

from ..host_dataclasses import replace
from ..states import JobState
from .records import EventKind, JobRecord, JobUpdate, Keep

TYPE_CHECKING = False  # importing typing costs a one-shot command's start: names for mypy only
if TYPE_CHECKING:
    from typing import Any, Dict, Optional, Tuple

# JobUpdate fields that map one-to-one onto jobs columns
_PLAIN_FIELDS = (
    "exit_code",
    "exit_signal",
    "exit_source",
    "runner_id",
    "host",
    "forgot_count",
    "unreachable_since",
    "start_time",
    "exit_time",
    "ecflow_told",
)


def _plain_changes(job: JobRecord, update: JobUpdate) -> Dict[str, Any]:
    new: Dict[str, Any] = {}
    for name in _PLAIN_FIELDS:
        value = getattr(update, name)
        if not isinstance(value, Keep) and value != getattr(job, name):
            new[name] = value
    return new


def changes_nothing(job: JobRecord, update: JobUpdate) -> bool:
    """``update`` would write nothing over ``job`` as given (no field, state,
    error, message or note): a poll of 10,000 unchanged jobs skips the ledger."""
    return (
        not update.messages
        and not update.notes
        and (isinstance(update.state, Keep) or update.state is job.state)
        and (isinstance(update.error, Keep) or update.error == job.error)
        and not _plain_changes(job, update)
    )


def apply_one(
    db: sqlite3.Connection, job: JobRecord, update: JobUpdate, stamp: str
) -> Optional[JobRecord]:
    """Write what ``update`` changes in ``job``; the job as written, None if nothing was.

    The new record is made here from what was written, not read back: a poll
    writes hundreds of jobs in one transaction.
    """
    new = _plain_changes(job, update)  # JobRecord fields that change
    if not isinstance(update.error, Keep) and update.error != job.error:
        new["error"] = update.error
        if update.error is not None:
            add_event(db, job.id, stamp, EventKind.ERROR, update.error)
    wrote = bool(new)
    if not isinstance(update.state, Keep) and update.state is not job.state:
        new["state"] = update.state
        _state_event(db, job, update.state, update.reason, stamp)
        wrote = True
    if _record_messages(db, job.id, update, stamp):
        wrote = True
    for note in update.notes:
        add_event(db, job.id, stamp, note.kind, note.detail)
        wrote = True
    if not wrote:
        return None
    new["updated"] = stamp
    columns = {k: v.value if isinstance(v, enum.Enum) else v for k, v in new.items()}
    assignments = ", ".join(f"{c} = ?" for c in columns)
    # column names come from _PLAIN_FIELDS and this function, never from input
    sql = f"UPDATE jobs SET {assignments} WHERE id = ?"  # noqa: S608
    db.execute(sql, (*columns.values(), job.id))
    return replace(job, **new)


def set_state(
    db: sqlite3.Connection, job: JobRecord, state: JobState, reason: str, stamp: str
) -> None:
    db.execute("UPDATE jobs SET state = ?, updated = ? WHERE id = ?", (state.value, stamp, job.id))
    _state_event(db, job, state, reason, stamp)


def _state_event(
    db: sqlite3.Connection, job: JobRecord, state: JobState, reason: str, stamp: str
) -> None:
    detail = f"{job.state.value} -> {state.value}"
    add_event(db, job.id, stamp, EventKind.STATE, f"{detail}: {reason}" if reason else detail)


def _record_messages(db: sqlite3.Connection, job_id: int, update: JobUpdate, stamp: str) -> bool:
    """Keep each status-file message once.

    The file repeats nothing we must keep twice, but a job may send the same
    message twice in one second: identical (time, severity, text) triples are
    counted, and only those beyond what the ledger already holds are added.
    """
    if not update.messages:
        return False
    wanted = Counter((m.time, m.severity, m.text) for m in update.messages)
    held: Counter[Tuple[str, str, str]] = Counter(
        (row[0], row[1], row[2])
        for row in db.execute(
            "SELECT source_time, severity, detail FROM events WHERE job_id = ? AND kind = ?",
            (job_id, EventKind.MESSAGE.value),
        )
    )
    wrote = False
    for message in update.messages:
        key = (message.time, message.severity, message.text)
        if held[key] < wanted[key]:
            held[key] += 1
            add_event(
                db, job_id, stamp, EventKind.MESSAGE, message.text, message.severity, message.time
            )
            wrote = True
    return wrote


def add_event(
    db: sqlite3.Connection,
    job_id: int,
    stamp: str,
    kind: EventKind,
    detail: str,
    severity: Optional[str] = None,
    source_time: Optional[str] = None,
) -> None:
    db.execute(
        "INSERT INTO events (job_id, time, kind, detail, severity, source_time)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        (job_id, stamp, kind.value, detail, severity, source_time),
    )
