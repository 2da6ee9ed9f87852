"""The directives a job is submitted with, settled on the controller before any
host is contacted.

A job's own directives (``SubmitItem.directives``: a checked ``Directives``, or
a mapping of the names users write, as TOML and ``--jobs`` lines use them) go
over its platform's ``directives`` field by field: a field the job sets wins,
and a job's ``raw`` lines replace the platform's. The result is checked by the
schema (``runners/directives.py``) and by the platform's runner (a directive
it has no form for). Every problem of every job is reported at once.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from ..platforms.model import Platform
from ..runners.directives import DirectiveError, DirectiveProblem, Directives, merge, read_partly
from ..runners.registry import RunnerLoadError, runner_class

TYPE_CHECKING = False  # importing typing costs a one-shot submit's start: names for mypy only
if TYPE_CHECKING:
    from typing import Any

    from .submit_item import SubmitItem

SHOWN_PROBLEMS = 50  # a thousand jobs with one mistake each: the first ones say enough


def with_platform(platform: Platform, own: Directives) -> tuple[Directives, list[DirectiveProblem]]:
    """``own`` over the platform's directives, and what the platform's runner
    cannot write of them (an unknown runner is the caller's refusal, not ours)."""
    merged = merge(platform.directives, own)
    try:
        runner_class(platform.runner).check_directives(merged)
    except DirectiveError as exc:
        return merged, list(exc.problems)
    except RunnerLoadError:
        pass
    return merged, []


def read_own(
    directives: Directives | Mapping[str, Any],
) -> tuple[Directives, list[DirectiveProblem]]:
    """A job's own directives as given to the library: checked, or read by user names."""
    if isinstance(directives, Directives):
        return directives, []
    return read_partly(directives)


def settle(platform: Platform, items: Sequence[SubmitItem]) -> tuple[list[Directives], list[str]]:
    """The directives of each item, in order, and one line per problem (none: all fine)."""
    settled: list[Directives] = []
    lines: list[str] = []
    for item in items:
        own, problems = read_own(item.directives)
        merged, more = with_platform(platform, own)
        settled.append(merged)
        where = f"job {item.name!r} ({item.source or item.script_path})"
        lines.extend(f"{where}: directive {p}" for p in unique(problems + more))
    return settled, lines


def unique(problems: list[DirectiveProblem]) -> list[DirectiveProblem]:
    """Each problem once (the schema and the runner may both see a bad value)."""
    return list(dict.fromkeys(problems))


def refusal_text(lines: Sequence[str]) -> str:
    """The lines of a refusal, one problem each, under one heading."""
    count = len(lines)
    head = (
        f"{count} problem{'s' if count != 1 else ''} in the jobs to submit; nothing was submitted:"
    )
    shown = [f"  {line}" for line in lines[:SHOWN_PROBLEMS]]
    if count > SHOWN_PROBLEMS:
        shown.append(f"  ... and {count - SHOWN_PROBLEMS} more")
    return "\n".join([head, *shown])
