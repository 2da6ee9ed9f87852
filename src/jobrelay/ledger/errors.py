"""What can go wrong with the ledger, as exceptions a caller can tell apart."""

from __future__ import annotations


class LedgerError(Exception):
    """Base of every ledger error."""


class SchemaError(LedgerError):
    """The ledger file was written by a newer jobrelay, or is not a ledger."""


class InvalidName(LedgerError, ValueError):
    """A run or job name the ledger cannot hold."""


class JobNotFound(LedgerError, LookupError):
    """No job matches a reference, id or name."""


class AmbiguousJob(LedgerError, LookupError):
    """More than one job matches a CLI JOB argument."""
