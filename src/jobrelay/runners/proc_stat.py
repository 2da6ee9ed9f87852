"""``/proc/<pid>/stat``: read one process's line, and the fields jobrelay uses.

A pid alone names a process only until it is reused (pid_max may be 32768);
a pid with its start time (field 22, clock ticks since boot) names one
process for ever. Linux only. Host-side: standard library only, Python 3.8+.
"""

from __future__ import annotations

from ..host_dataclasses import dataclass

TYPE_CHECKING = False  # importing typing costs the agent 4 ms of start: names for mypy only
if TYPE_CHECKING:
    from typing import Optional, Union


@dataclass(frozen=True)
class ProcStat:
    pid: int
    state: str  # "R", "S", "Z", …
    pgrp: int
    session: int
    starttime: int


def parse_proc_stat(pid: int, data: Union[bytes, str]) -> Optional[ProcStat]:
    """The fields of one stat line; None when it is not one."""
    raw = data.encode("utf-8", "surrogateescape") if isinstance(data, str) else data
    # comm (field 2) is in parentheses and may hold spaces and parentheses.
    rest = raw[raw.rfind(b")") + 2 :].split()
    try:  # rest[0] is field 3
        return ProcStat(pid, rest[0].decode(), int(rest[2]), int(rest[3]), int(rest[19]))
    except (IndexError, ValueError, UnicodeDecodeError):
        return None


def read_proc_stat(pid: int) -> Optional[ProcStat]:
    """This host's process ``pid``; None when there is no such process."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            return parse_proc_stat(pid, handle.read())
    except OSError:
        return None
