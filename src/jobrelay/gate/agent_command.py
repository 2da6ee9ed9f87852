"""Recognise the host agent's command line: ``python3 [-S] AGENT.pyz``.

The controller runs the agent it installed at
``<run root>/.jobrelay/agent-<version>.pyz``. The gate accepts exactly that
(the path as given relative to the home directory with ``~/``, or absolute),
with no further arguments but an optional ``--serve`` (a session answering
several requests), and execs its own interpreter on it with
``--confine <run root>`` so the agent refuses job dirs outside the root.
"""

from __future__ import annotations

import os
import re
import stat

from jobrelay.gate.decision import Allowed, Refused
from jobrelay.gate.paths import PathRefused, inside_root

TYPE_CHECKING = False  # importing typing costs the agent 4 ms of start: names for mypy only
if TYPE_CHECKING:
    from typing import List

INTERPRETER_RE = re.compile(r"^(?:/[\w./-]+/)?python3(?:\.\d+)?\Z")
AGENT_NAME_RE = re.compile(r"^agent-[A-Za-z0-9][A-Za-z0-9.+_-]*\.pyz\Z")
AGENT_DIR = ".jobrelay"


def looks_like_agent(words: List[str]) -> bool:
    return bool(words) and INTERPRETER_RE.match(words[0]) is not None


def _expand(path: str) -> str:
    if path.startswith("~/"):
        return os.path.expanduser(path)
    return path


def validate_agent(words: List[str], root: str, python: str) -> Allowed:
    """Check ``python3 [-S] PATH`` and return the exec of the agent."""
    args = words[1:]
    if args[:1] == ["-S"]:
        args = args[1:]
    if not args:
        raise Refused("python3 without the agent path")
    given = args[0]
    if given.startswith("-"):
        raise Refused(f"python3 option {given!r} is not allowed")
    serve = args[1:] == ["--serve"]
    if len(args) > 1 and not serve:
        raise Refused("the agent takes no arguments on its command line but --serve")
    path = _expand(given)
    if not os.path.isabs(path):
        raise Refused(f"agent path {given!r} must be absolute or start with ~/")
    found = inside_root(root, path)
    if isinstance(found, PathRefused):
        raise Refused(f"agent path: {found.reason}")
    parent, name = os.path.split(found.relative)
    if parent != AGENT_DIR or not AGENT_NAME_RE.match(name):
        raise Refused(f"agent path {given!r} is not <run root>/{AGENT_DIR}/agent-<version>.pyz")
    try:
        st = os.lstat(os.path.join(os.path.realpath(root), found.relative))
    except OSError as exc:
        raise Refused(f"agent {given!r} is not installed ({exc.strerror})") from None
    if not stat.S_ISREG(st.st_mode):
        raise Refused(f"agent {given!r} is not a regular file")
    real_root = os.path.realpath(root)
    argv = (python, "-S", found.path, "--confine", real_root, *(["--serve"] if serve else []))
    return Allowed("agent", python, argv, real_root)
