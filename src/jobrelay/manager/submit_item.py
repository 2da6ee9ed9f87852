"""One job to submit, as the library and the CLI hand it to a submission."""

from __future__ import annotations

from pathlib import Path

from ..host_dataclasses import dataclass, field
from ..runners.directives import Directives

TYPE_CHECKING = False  # importing typing costs a one-shot command's start: names for mypy only
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any


@dataclass(frozen=True)
class SubmitItem:
    """One job to submit: the user's script and how to run it.

    ``directives``: checked ``Directives``, or a mapping of the names users
    write (``{"time_limit": "1h", "memory": "4G"}``); they go over the
    platform's (docs/configuration.md). ``source`` says where the job came
    from in messages (default: its script).
    """

    script_path: Path
    name: str
    directives: Directives | Mapping[str, Any] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)
    source: str = ""
    output: str | None = None  # the job's stdout+stderr on the host (submit -o), absolute
    ecflow_task: str | None = None  # the ecFlow task its job file names (JSON, cli/ecflow.py)
