"""The ledger: a SQLite file of job submissions, their states and history.

See docs/ledger.md for the schema, concurrency and crash-safety rules.
"""

from .errors import AmbiguousJob, InvalidName, JobNotFound, LedgerError, SchemaError
from .records import (
    KEEP,
    ApplyReport,
    Event,
    EventKind,
    EventNote,
    ExitSource,
    JobRecord,
    JobSpec,
    JobUpdate,
    RunSummary,
    job_ref,
)
from .schema import SCHEMA_VERSION
from .store import Ledger

__all__ = [
    "KEEP",
    "SCHEMA_VERSION",
    "AmbiguousJob",
    "ApplyReport",
    "Event",
    "EventKind",
    "EventNote",
    "ExitSource",
    "InvalidName",
    "JobNotFound",
    "JobRecord",
    "JobSpec",
    "JobUpdate",
    "Ledger",
    "LedgerError",
    "RunSummary",
    "SchemaError",
    "job_ref",
]
