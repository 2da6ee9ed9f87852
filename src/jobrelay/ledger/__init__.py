"""The ledger: a SQLite file of job submissions, their states and history.

See docs/ledger.md for the schema, concurrency and crash-safety rules.

The names below load on first use (PEP 562): a command that needs only
``ledger.errors`` then starts without sqlite3 and the records.
"""

from __future__ import annotations

TYPE_CHECKING = False  # importing typing costs a one-shot command's start: names for mypy only
if TYPE_CHECKING:
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

_HOMES = {
    "errors": ("AmbiguousJob", "InvalidName", "JobNotFound", "LedgerError", "SchemaError"),
    "records": (
        "KEEP",
        "ApplyReport",
        "Event",
        "EventKind",
        "EventNote",
        "ExitSource",
        "JobRecord",
        "JobSpec",
        "JobUpdate",
        "RunSummary",
        "job_ref",
    ),
    "schema": ("SCHEMA_VERSION",),
    "store": ("Ledger",),
}
_HOME = {name: module for module, names in _HOMES.items() for name in names}

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


def __getattr__(name: str) -> object:
    module = _HOME.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value  # once: later lookups are plain module attributes
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
