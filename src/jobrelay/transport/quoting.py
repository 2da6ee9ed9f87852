"""Command lines that pass through someone else's parser, quoted in one place each.

The remote shell (ssh) and rsync's ``-e`` parser are the only places where a
list of arguments becomes one string; nowhere else in jobrelay builds one.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence


def remote_command_line(argv: Sequence[str]) -> str:
    """The one string ssh hands to the remote login shell for ``argv``.

    Each argument is quoted for a POSIX shell, except that a leading ``~/``
    (or a lone ``~``) stays outside the quotes so the remote shell expands it
    to the remote home directory.

    >>> remote_command_line(["ls", "-l", "~/a b", "$(x)"])
    "ls -l ~/'a b' '$(x)'"
    """
    if not argv:
        raise ValueError("empty command")
    return " ".join(_remote_word(arg) for arg in argv)


def _remote_word(arg: str) -> str:
    if arg == "~":
        return "~"
    if arg.startswith("~/"):
        rest = arg[2:]
        return "~/" + shlex.quote(rest) if rest else "~/"
    return shlex.quote(arg)


def rsync_shell_option(argv: Sequence[str]) -> str:
    """The value of rsync's ``-e``: rsync splits it itself, not a shell.

    rsync splits on spaces and honours single and double quotes, a doubled
    quote inside quotes standing for itself (no backslash escapes); so each
    argument goes in single quotes with inner single quotes doubled.

    >>> rsync_shell_option(["ssh", "-F", "/a b/it's"])
    "ssh -F '/a b/it''s'"
    """
    return " ".join(_rsync_word(arg) for arg in argv)


def _rsync_word(arg: str) -> str:
    if arg and all(c.isalnum() or c in "-_./=:@%+," for c in arg):
        return arg
    return "'" + arg.replace("'", "''") + "'"
