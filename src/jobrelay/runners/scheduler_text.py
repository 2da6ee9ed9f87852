"""Small parsers shared by the PBS, LSF and SGE runners (their outputs differ,
their error conventions do not). Host-side: stdlib only, Python 3.8+."""

from __future__ import annotations

import re

from ..processes import CommandResult
from .base import KillOutcome

TYPE_CHECKING = False  # importing typing costs the agent 4 ms of start: names for mypy only
if TYPE_CHECKING:
    from typing import List, Optional, Pattern, Sequence


def only_lines_matching(stderr: str, pattern: Pattern[str]) -> bool:
    """True when stderr is non-empty and every line is an "unknown job" line."""
    lines = [line for line in stderr.splitlines() if line.strip()]
    return bool(lines) and all(pattern.search(line) for line in lines)


def kill_outcomes(
    ids: Sequence[str],
    result: CommandResult,
    gone: Pattern[str],
    short_id: bool = True,
    cancelled: Optional[Pattern[str]] = None,
) -> List[KillOutcome]:
    """Per-id outcomes of one cancel command for many ids.

    ``gone`` finds the ids the scheduler says are finished or unknown
    (group 1): those are ``ok`` ("already gone" is a result). When the errors
    name ids, an id they do not name was cancelled; otherwise all failed.
    ``cancelled`` finds the lines that report success (not errors about an id).
    """
    if result.ok:
        return [KillOutcome(i, True, "cancelled") for i in ids]
    if result.returncode is None:  # timed out or could not start: nothing known
        return [KillOutcome(i, False, result.describe()) for i in ids]
    text = result.stdout + "\n" + result.stderr
    if cancelled is not None:
        text = "\n".join(ln for ln in text.splitlines() if not cancelled.search(ln))
    already = {m.split(".")[0] if short_id else m for m in gone.findall(text)}
    keys = {i: i.split(".")[0] if short_id else i for i in ids}
    named = {i for i, k in keys.items() if re.search(rf"(?<![\d.]){re.escape(k)}(?!\d)", text)}
    outcomes = []
    for runner_id in ids:
        if keys[runner_id] in already:
            outcomes.append(KillOutcome(runner_id, True, "already gone"))
        elif named and runner_id not in named:  # per-id errors, none about this one
            outcomes.append(KillOutcome(runner_id, True, "cancelled"))
        else:
            outcomes.append(KillOutcome(runner_id, False, result.describe()))
    return outcomes
