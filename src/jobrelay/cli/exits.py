"""Exit codes and the refusals that end a command with exit 2.

Light on purpose: ``main`` imports it before knowing the command.
"""

from __future__ import annotations

import sys

TYPE_CHECKING = False  # importing typing costs every command's start: names for mypy only
if TYPE_CHECKING:
    from collections.abc import Iterable

    from ..ledger.records import JobRecord

OK, JOBS, USAGE, TIMEOUT, INTERRUPTED = 0, 1, 2, 3, 130

#: for --help and docs/cli.md (tests/test_cli_docs.py keeps them the same)
EXIT_CODES = """\
exit codes:
  0    done; for wait, watch and submit --wait: every job succeeded
  1    a job failed, was killed, lost or not submitted (wait, watch, submit),
       or an operation failed (submit, kill, install, tidy, logs)
  2    bad usage, configuration, state dir or ledger; the run is held by
       another live controller
  3    wait / submit --wait timed out with jobs not final
  130  interrupted (Ctrl-C); the references of jobs still running are printed"""


class UsageError(Exception):
    """A command line that cannot be carried out as given (exit 2)."""


def say(text: str) -> None:
    """A message to the user, on stderr, marked as ours."""
    print(f"jobrelay: {text}", file=sys.stderr, flush=True)


def fate(jobs: Iterable[JobRecord]) -> int:
    """0 when every job succeeded, else 1 (for commands judged by the jobs' fate)."""
    from ..states import JobState

    return OK if all(j.state is JobState.SUCCEEDED for j in jobs) else JOBS


def refs_text(jobs: Iterable[JobRecord], limit: int = 20) -> str:
    """Job references for a message; many are cut with a count (the run names them all)."""
    refs = [j.ref for j in jobs]
    if len(refs) <= limit:
        return " ".join(refs)
    return " ".join(refs[:limit]) + f" … ({len(refs)} jobs)"
