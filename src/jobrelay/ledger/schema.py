"""The ledger's SQLite schema, its version, and the connection settings.

Version history (bump ``SCHEMA_VERSION`` and add a step to ``_MIGRATIONS``
for every change; never edit a released step):
  1 — jobs, events, schema_version.
  2 — ledger_meta: the ledger's own id (a UUID, made once), which every
      submission carries into its job dir so that no other ledger's job dir
      is ever taken for one of ours.
  3 — jobs gain start_time and exit_time (the job's own times, from its
      status file), output (where the job's stdout and stderr go on the host,
      when the user chose it), ecflow_task (the ecFlow task a job file names,
      JSON) and ecflow_told (1 once ecFlow was told of an end it did not see);
      indexes for reference lookup by script path and by name, and for the
      non-final jobs a poll cycle reads, so a ledger of a million rows stays
      as quick as one of a thousand.
"""

from __future__ import annotations

import sqlite3
import time

from .errors import SchemaError

TYPE_CHECKING = False  # importing typing costs a one-shot command's start: names for mypy only
if TYPE_CHECKING:
    from typing import Any, Callable, Dict

SCHEMA_VERSION = 3

BUSY_TIMEOUT_MS = 30_000

_V1 = """
CREATE TABLE jobs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    run TEXT NOT NULL,
    name TEXT NOT NULL,
    submit_num INTEGER NOT NULL,
    platform TEXT NOT NULL,
    host TEXT,
    install_target TEXT NOT NULL,
    runner TEXT NOT NULL,
    runner_id TEXT,
    job_dir TEXT NOT NULL,
    state TEXT NOT NULL,
    exit_code INTEGER,
    exit_signal TEXT,
    exit_source TEXT,
    error TEXT,
    kill_requested INTEGER NOT NULL DEFAULT 0,
    forgot_count INTEGER NOT NULL DEFAULT 0,
    unreachable_since TEXT,
    script_path TEXT NOT NULL,
    directives TEXT NOT NULL DEFAULT '{}',
    env TEXT NOT NULL DEFAULT '{}',
    created TEXT NOT NULL,
    updated TEXT NOT NULL,
    UNIQUE (run, name, submit_num)
);
CREATE INDEX jobs_by_run_state ON jobs (run, state);
CREATE TABLE events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    job_id INTEGER NOT NULL REFERENCES jobs (id),
    time TEXT NOT NULL,
    kind TEXT NOT NULL,
    detail TEXT NOT NULL,
    severity TEXT,
    source_time TEXT
);
CREATE INDEX events_by_job ON events (job_id, id);
CREATE TABLE schema_version (version INTEGER NOT NULL);
"""


def _v2(conn: sqlite3.Connection) -> None:
    import uuid  # here: 10 ms of every command's start otherwise

    conn.execute("CREATE TABLE ledger_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
    conn.execute("INSERT INTO ledger_meta VALUES ('ledger_id', ?)", (uuid.uuid4().hex,))


def _v3(conn: sqlite3.Connection) -> None:
    for column in (
        "start_time TEXT",
        "exit_time TEXT",
        "output TEXT",
        "ecflow_task TEXT",
        "ecflow_told INTEGER NOT NULL DEFAULT 0",
    ):
        conn.execute(f"ALTER TABLE jobs ADD COLUMN {column}")
    conn.execute("CREATE INDEX jobs_by_script ON jobs (script_path, id)")
    conn.execute("CREATE INDEX jobs_by_name ON jobs (name, id)")
    conn.execute("CREATE INDEX jobs_by_state ON jobs (state)")


# step that brings a ledger at version N-1 to version N
_MIGRATIONS: Dict[int, Callable[[sqlite3.Connection], None]] = {2: _v2, 3: _v3}


def ledger_id(conn: sqlite3.Connection) -> str:
    (value,) = conn.execute("SELECT value FROM ledger_meta WHERE key = 'ledger_id'").fetchone()
    return str(value)


def configure(conn: sqlite3.Connection) -> None:
    """Per-connection settings: wait for locks, WAL for readers beside one writer."""
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    # WAL: readers never block the writer; a killed writer leaves only an
    # uncommitted WAL tail, which the next opener discards.
    mode = _set_wal(conn)
    if mode is None or str(mode[0]).lower() != "wal":
        raise SchemaError(f"cannot put the ledger in WAL mode (got {mode!r})")
    # FULL: a committed transaction survives power loss, not only a killed process.
    conn.execute("PRAGMA synchronous = FULL")
    conn.execute("PRAGMA foreign_keys = ON")


def _set_wal(conn: sqlite3.Connection) -> Any:
    """Switch to WAL, retrying: the switch needs an exclusive lock and SQLite
    answers "database is locked" at once, without the busy handler, while
    another process opens the same new file."""
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            return conn.execute("PRAGMA journal_mode = WAL").fetchone()
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.02)


def ensure(conn: sqlite3.Connection, path: str) -> None:
    """Create the schema in an empty file, migrate an older one, refuse a newer one.

    Runs in its own ``BEGIN IMMEDIATE`` so processes opening a new ledger at
    once create it exactly once.
    """
    conn.execute("BEGIN IMMEDIATE")
    try:
        version = _version(conn, path)
        if version is None:
            for statement in _statements(_V1):
                conn.execute(statement)
            conn.execute("INSERT INTO schema_version (version) VALUES (?)", (1,))
            version = 1
        if version > SCHEMA_VERSION:
            raise SchemaError(
                f"ledger {path} has schema version {version}, newer than this jobrelay "
                f"understands ({SCHEMA_VERSION}): upgrade jobrelay to use it"
            )
        while version < SCHEMA_VERSION:
            version += 1
            _MIGRATIONS[version](conn)
            conn.execute("UPDATE schema_version SET version = ?", (version,))
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def _version(conn: sqlite3.Connection, path: str) -> int | None:
    tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    if "schema_version" not in tables:
        if tables - {"sqlite_sequence"}:
            raise SchemaError(f"{path} is an SQLite file but not a jobrelay ledger")
        return None
    rows = conn.execute("SELECT version FROM schema_version").fetchall()
    if len(rows) != 1 or not isinstance(rows[0][0], int):
        raise SchemaError(f"ledger {path} has a damaged schema_version table: {rows!r}")
    return int(rows[0][0])


def _statements(script: str) -> list[str]:
    # executescript() would COMMIT our transaction first; run statements one by one.
    return [s.strip() for s in script.split(";") if s.strip()]
