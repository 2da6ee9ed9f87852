"""Values safe to write into a job script's directive lines.

A directive line is read by the scheduler, not by a shell, but a value with
a newline would start a new directive and a space would end the value: names
are sanitised, other values refused. Host-side: stdlib only, Python 3.8+.
"""

from __future__ import annotations

import math
import re

# patterns, compiled at their first use (re keeps them): a poll writes no directive
_NAME_UNSAFE = r"[^A-Za-z0-9_.-]+"
_PLAIN_VALUE = r"^[A-Za-z0-9_.,:@%+=/-]+\Z"
# a newline would start another directive; a tab is only a blank
LINE_UNSAFE = r"[\x00-\x08\x0a-\x1f\x7f]"


def safe_job_name(name: str, max_len: int = 64, alpha_first: bool = False) -> str:
    """``name`` reduced to ``[A-Za-z0-9_.-]``; never empty, never an option."""
    clean = re.sub(_NAME_UNSAFE, "_", name).strip("_.-")[:max_len] or "job"
    if alpha_first and not clean[0].isalpha():
        clean = ("j" + clean)[:max_len]
    return clean


def directive_token(value: object) -> str:
    """A plain value (queue, account, number) as one token, or ValueError."""
    text = str(value)
    if not re.match(_PLAIN_VALUE, text):
        raise ValueError(f"unsafe value for a directive: {text!r}")
    return text


def check_job_dir(job_dir: str) -> str:
    """Job dirs go into directives unquoted: refuse anything but a plain path."""
    if not job_dir.startswith("/") or not re.match(r"^[A-Za-z0-9_.,:@%+=/-]+$", job_dir):
        raise ValueError(f"job dir unsafe for directives: {job_dir!r}")
    return job_dir


def check_line(line: str) -> str:
    """The last guard on every header line a runner writes: one line, no control
    characters, whatever a runner's own formatting did."""
    if re.search(LINE_UNSAFE, line):
        raise ValueError(f"directive line holds a newline or a control character: {line!r}")
    return line


def minutes_ceil(seconds: int) -> int:
    """Whole minutes, rounded up (schedulers counting minutes must not cut short)."""
    return max(1, math.ceil(seconds / 60))
