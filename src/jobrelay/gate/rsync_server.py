"""Validate the rsync server command line an rsync client sends over SSH.

The client runs ``rsync --server [--sender] OPTIONS . PATHS...`` on the
remote side (pull: ``--sender``). Every option is checked against the table
below: the ones jobrelay and ordinary transfers need are allowed, options
that name files are allowed only inside the run root, and anything that
runs programs, follows symlinks out, writes devices or logs, or is unknown
is refused. Option facts come from rsync's manual and from what rsync's
client sends (short options bundled with the ``e.xxx`` capability string,
``--opt VALUE`` or ``--opt=VALUE``).
"""

from __future__ import annotations

import os
import re
from enum import Enum

from jobrelay.gate.decision import Refused
from jobrelay.gate.paths import PathRefused, inside_root

TYPE_CHECKING = False  # importing typing costs the agent 4 ms of start: names for mypy only
if TYPE_CHECKING:
    from typing import Dict, List, Optional, Tuple


class Kind(Enum):
    FLAG = "flag"  # no argument
    VALUE = "value"  # an argument that names no file
    ROOT_PATH = "root-path"  # an argument naming a directory, which must be inside the root
    STDIN_ONLY = "stdin-only"  # only "-" (read from the connection)


# Short options a client sends bundled (``-logDtpre.iLsfxCIvu``). Left out:
# -s (arguments travel over the protocol where the gate cannot see them),
# -L -k -K (follow symlinks, possibly out of the root), -e without the
# capability form, -M (remote options), and every option taking an argument.
SHORT_FLAGS = "ACDEHIJNORSUWXbcdglmnopqrtuvxyz"
SHORT_CLUSTER_RE = re.compile(r"^-(?=.)[" + SHORT_FLAGS + r"]*(e\d*\.[A-Za-z]*)?\Z")
SHORT_WITH_NUMBER_RE = re.compile(r"^-[B@]-?\d+\Z")  # --block-size, --modify-window

DELETING = frozenset(
    (
        "delete",
        "delete-after",
        "delete-before",
        "delete-delay",
        "delete-during",
        "delete-excluded",
        "delete-missing-args",
        "remove-source-files",
        "remove-sent-files",
    )
)

_FLAGS = (
    "append append-verify delay-updates dirs existing fake-super force from0 fsync fuzzy "
    "group hard-links ignore-errors ignore-existing ignore-missing-args ignore-times inplace "
    "links list-only mkpath msgs2stderr no-msgs2stderr munge-links new-compress no-W "
    "no-implied-dirs no-r no-relative no-specials numeric-ids old-compress one-file-system "
    "open-noatime owner partial perms preallocate recursive relative safe-links size-only "
    "specials stats super times use-qsort"
)
_VALUES = (
    "block-size bwlimit checksum-choice checksum-seed chmod compress-choice compress-level "
    "compress-threads groupmap usermap iconv info log-format max-alloc max-delete max-size "
    "min-size modify-window skip-compress stderr suffix timeout"
)
LONG_OPTIONS: Dict[str, Kind] = {}
LONG_OPTIONS.update({name: Kind.FLAG for name in _FLAGS.split()})
LONG_OPTIONS.update({name: Kind.FLAG for name in DELETING})
LONG_OPTIONS.update({name: Kind.VALUE for name in _VALUES.split()})
LONG_OPTIONS.update(
    {
        name: Kind.ROOT_PATH
        for name in (
            "backup-dir",
            "compare-dest",
            "copy-dest",
            "link-dest",
            "partial-dir",
            "temp-dir",
        )
    }
)
LONG_OPTIONS["files-from"] = Kind.STDIN_ONLY

# Refused with a specific reason (anything else unknown is refused too).
REFUSED_LONG: Dict[str, str] = {
    "rsh": "runs a program",
    "rsync-path": "runs a program",
    "daemon": "starts an rsync daemon",
    "config": "reads a daemon config",
    "dparam": "sets daemon parameters",
    "server": "--server only as the first argument",
    "sender": "--sender only right after --server",
    "log-file": "writes a log file",
    "log-file-format": "writes a log file",
    "write-batch": "writes a batch file",
    "only-write-batch": "writes a batch file",
    "read-batch": "reads a batch file",
    "write-devices": "writes to devices",
    "copy-devices": "reads devices",
    "copy-links": "follows symlinks out of the run root",
    "copy-dirlinks": "follows symlinks out of the run root",
    "keep-dirlinks": "follows symlinks out of the run root",
    "copy-unsafe-links": "follows symlinks out of the run root",
    "no-munge-links": "may not be switched off",
    "secluded-args": "hides the arguments from the gate",
    "protect-args": "hides the arguments from the gate",
    "remote-option": "passes options unchecked",
    "confine-root": "is set by the gate",
    "debug": "is for debugging only",
    "password-file": "reads a file",
    "address": "is for daemons",
    "port": "is for daemons",
    "sockopts": "is for daemons",
}

WILDCARDS = frozenset("*?[")


def _check_root_path(option: str, value: str, root: str) -> str:
    if value.startswith("-"):
        raise Refused(f"{option} value {value!r} looks like an option")
    found = inside_root(root, _expand_home(value))
    if isinstance(found, PathRefused):
        raise Refused(f"{option}: {found.reason}")
    return found.relative


def _expand_home(path: str) -> str:
    # rsync's client leaves a leading ~ for the remote shell; there is none here.
    if path == "~" or path.startswith("~/"):
        return os.path.expanduser(path)
    return path


def _check_long(token: str, value: Optional[str], root: str) -> Tuple[str, bool]:
    """Return the option as rsync gets it, and whether it consumed the next token."""
    name = token[2:].split("=", 1)[0]
    inline = "=" in token
    if name in REFUSED_LONG:
        raise Refused(f"rsync option --{name} {REFUSED_LONG[name]}")
    kind = LONG_OPTIONS.get(name)
    if kind is None:
        raise Refused(f"rsync option --{name} is not allowed")
    if kind is Kind.FLAG:
        if inline:
            raise Refused(f"rsync option --{name} takes no value")
        return token, False
    arg = token.split("=", 1)[1] if inline else value
    if arg is None:
        raise Refused(f"rsync option --{name} needs a value")
    if kind is Kind.VALUE:
        if name == "suffix" and "/" in arg:
            raise Refused("rsync option --suffix may not contain '/'")
        checked = arg
    elif kind is Kind.STDIN_ONLY:
        if arg != "-":
            raise Refused(f"rsync option --{name} is allowed only as '-' (from the connection)")
        checked = arg
    else:
        checked = _check_root_path(f"--{name}", arg, root)
    return f"--{name}={checked}", not inline


def _check_path_arg(arg: str, root: str) -> str:
    if arg.startswith("-"):
        raise Refused(f"path {arg!r} looks like an option")
    if WILDCARDS & set(arg):
        raise Refused(f"wildcards are not allowed in path {arg!r}")
    found = inside_root(root, _expand_home(arg))
    if isinstance(found, PathRefused):
        raise Refused(found.reason)
    rel = found.relative
    # rsync gives a trailing "/" (or "/.") a meaning: copy the contents.
    if arg.endswith("/."):
        rel += "/."
    elif arg.endswith("/") and rel != ".":
        rel += "/"
    return rel


def validate_rsync_server(
    words: List[str], root: str, confine: bool = True, allow_delete: bool = True
) -> List[str]:
    """Check ``rsync --server …`` and return the argv (after argv[0]) to exec.

    Paths come back relative to the root: rsync runs with the root as cwd.
    """
    if words[:2] != ["rsync", "--server"]:
        raise Refused("not an rsync server command ('rsync --server' must come first)")
    rest = words[2:]
    sender = bool(rest) and rest[0] == "--sender"
    if sender:
        rest = rest[1:]
    options = ["--server"] + (["--sender"] if sender else [])
    i = 0
    while i < len(rest):
        word = rest[i]
        if word == ".":
            break
        if word.startswith("--"):
            name = word[2:].split("=", 1)[0]
            if name in DELETING and not allow_delete:
                raise Refused(f"rsync option --{name} is disabled on this host")
            nxt = rest[i + 1] if i + 1 < len(rest) else None
            checked, consumed = _check_long(word, nxt, root)
            options.append(checked)
            i += 2 if consumed else 1
            continue
        if SHORT_CLUSTER_RE.match(word) or SHORT_WITH_NUMBER_RE.match(word):
            options.append(word)
            i += 1
            continue
        if word.startswith("-"):
            raise Refused(f"rsync option {word!r} is not allowed")
        raise Refused(f"unexpected rsync argument {word!r} before '.'")
    else:
        raise Refused("rsync server command has no '.' argument (or hides its arguments)")
    paths = rest[i + 1 :]
    if not paths:
        raise Refused("rsync server command names no path")
    checked_paths = [_check_path_arg(p, root) for p in paths]
    if confine:
        options.append("--confine-root=" + os.path.realpath(root))
        if not sender:
            options.append("--drop-D")  # no device or special files in the run root
    return [*options, "--", ".", *checked_paths]
