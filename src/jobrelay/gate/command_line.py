"""Split SSH_ORIGINAL_COMMAND into words, refusing anything a shell would act on.

sshd hands a forced command the client's command as one string, which a
shell would interpret. The gate never runs a shell: it splits the string
with ``shlex`` (POSIX rules), but first refuses any character a shell would
have treated as syntax (``;`` ``|`` ``&`` ``<`` ``>`` ``(`` ``)`` ``$``
backquote, a leading ``#``) unless it is quoted or backslash-escaped, so a
command means the same to the gate as it would to a shell. rsync's client
escapes all of these in the paths it sends.
"""

from __future__ import annotations

import shlex

from jobrelay.gate.decision import Refused

TYPE_CHECKING = False  # importing typing costs the agent 4 ms of start: names for mypy only
if TYPE_CHECKING:
    from typing import List

MAX_ARG_BYTES = 4096
MAX_COMMAND_BYTES = 64 * 1024
SHELL_OPERATORS = frozenset(";&|<>()$`")
EXPANDING_IN_DOUBLE_QUOTES = frozenset("$`")


def _refuse_unquoted_syntax(command: str) -> None:
    state = "plain"  # plain | single | double
    escaped = False
    word_start = True
    for ch in command:
        if escaped:
            escaped = False
            word_start = False
            continue
        if state == "single":
            if ch == "'":
                state = "plain"
            continue
        if state == "double":
            if ch == "\\":
                escaped = True
            elif ch == '"':
                state = "plain"
            elif ch in EXPANDING_IN_DOUBLE_QUOTES:
                raise Refused(f"shell metacharacter {ch!r} in the command")
            continue
        if ch == "\\":
            escaped = True
        elif ch == "'":
            state = "single"
        elif ch == '"':
            state = "double"
        elif ch in SHELL_OPERATORS:
            raise Refused(f"shell metacharacter {ch!r} in the command")
        elif ch == "#" and word_start:
            raise Refused("shell comment '#' in the command")
        word_start = ch in " \t"


def split_command(command: str) -> List[str]:
    """Words of ``command``, or Refused with the reason."""
    if not command.strip():
        raise Refused("empty command")
    size = len(command.encode("utf-8", "surrogateescape"))
    if size > MAX_COMMAND_BYTES:
        raise Refused(f"command is {size} bytes (limit {MAX_COMMAND_BYTES})")
    for bad, name in (("\0", "NUL"), ("\n", "newline"), ("\r", "carriage return")):
        if bad in command:
            raise Refused(f"{name} in the command")
    _refuse_unquoted_syntax(command)
    try:
        words = shlex.split(command, posix=True)
    except ValueError as exc:
        raise Refused(f"cannot parse the command: {exc}") from None
    for word in words:
        size = len(word.encode("utf-8", "surrogateescape"))
        if size > MAX_ARG_BYTES:
            raise Refused(f"an argument is {size} bytes (limit {MAX_ARG_BYTES})")
    return words
