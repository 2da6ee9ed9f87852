"""Status values are single-line: the one escaping (docs/status-file.md).

Host-side and controller-side: standard library only, Python 3.8+.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import List, Tuple

__all__ = ["escape_value", "unescape_value"]


def escape_value(value: str) -> str:
    """Make a value single-line: backslash -> ``\\\\``, newline -> ``\\n``."""
    return value.replace("\\", "\\\\").replace("\n", "\\n")


def unescape_value(value: str) -> Tuple[str, bool]:
    """Undo ``escape_value``; the flag is False when a stray backslash was kept as is."""
    if "\\" not in value:
        return value, True
    out: List[str] = []
    clean = True
    i = 0
    n = len(value)
    while i < n:
        ch = value[i]
        if ch == "\\" and i + 1 < n and value[i + 1] in "\\n":
            out.append("\\" if value[i + 1] == "\\" else "\n")
            i += 2
            continue
        if ch == "\\":
            clean = False
        out.append(ch)
        i += 1
    return "".join(out), clean
