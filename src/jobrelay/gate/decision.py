"""What the gate decided: a program to exec, or a refusal."""

from __future__ import annotations

from ..host_dataclasses import dataclass

TYPE_CHECKING = False  # importing typing costs the agent 4 ms of start: names for mypy only
if TYPE_CHECKING:
    from typing import Tuple


class Refused(Exception):
    """The command is not allowed; ``str(exc)`` is the one-line reason."""


@dataclass(frozen=True)
class Allowed:
    """Exec ``program`` with ``argv`` in ``cwd``, never through a shell."""

    kind: str  # "rsync" or "agent"
    program: str  # absolute path
    argv: Tuple[str, ...]  # argv[0] included
    cwd: str
