"""``jobrelay-gate``: the forced command of a restricted jobrelay SSH key.

sshd runs it with the client's command in SSH_ORIGINAL_COMMAND. It execs
the rsync server confined to the run root, or (``--allow-agent``) the host
agent; anything else is refused: exit 1, one line on stderr, one log line.
"""

from __future__ import annotations

import argparse
import os
import sys

from jobrelay.gate.agent_command import looks_like_agent, validate_agent
from jobrelay.gate.command_line import split_command
from jobrelay.gate.decision import Allowed, Refused
from jobrelay.gate.gatelog import log_line, write_log
from jobrelay.gate.rsync_server import validate_rsync_server

TYPE_CHECKING = False  # importing typing costs the agent 4 ms of start: names for mypy only
if TYPE_CHECKING:
    from typing import List, NoReturn, Optional

PROG = "jobrelay-gate"
DEFAULT_RSYNC = "/usr/bin/rsync"


class ConfigError(Exception):
    """The gate's own arguments (in authorized_keys) are wrong."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise ConfigError(message)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog=PROG,
        description="Forced command for a restricted jobrelay SSH key (docs/restricted-ssh.md).",
    )
    parser.add_argument("--run-root", required=True, help="the only directory the key may reach")
    parser.add_argument(
        "--allow-agent", action="store_true", help="also allow the jobrelay host agent"
    )
    parser.add_argument("--log", metavar="FILE", help="append one line per decision to FILE")
    parser.add_argument(
        "--rsync", metavar="PATH", default=DEFAULT_RSYNC, help="absolute path of rsync"
    )
    parser.add_argument(
        "--python",
        metavar="PATH",
        default=sys.executable,
        help="absolute path of the python3 that runs the agent (default: the gate's own)",
    )
    parser.add_argument(
        "--no-delete",
        action="store_true",
        help="refuse rsync's --delete* and --remove-source-files",
    )
    parser.add_argument(
        "--legacy-rsync",
        action="store_true",
        help="rsync lacks --confine-root/--drop-D (older than 3.5): do not pass them",
    )
    return parser


def decide(words: List[str], opts: argparse.Namespace, root: str) -> Allowed:
    if words[0] == "rsync":
        argv = validate_rsync_server(
            words, root, confine=not opts.legacy_rsync, allow_delete=not opts.no_delete
        )
        return Allowed("rsync", opts.rsync, (opts.rsync, *argv), os.path.realpath(root))
    if looks_like_agent(words):
        if not opts.allow_agent:
            raise Refused("the agent is not allowed with this key (gate without --allow-agent)")
        return validate_agent(words, root, opts.python)
    if words == ["true"]:
        raise Refused("'true' is not allowed (this key runs rsync and the jobrelay agent only)")
    raise Refused(f"command {words[0]!r} is not allowed")


def _refuse(reason: str, command: Optional[str], log: Optional[str]) -> int:
    sys.stderr.write(f"{PROG}: refused: {reason}\n")
    if not write_log(log, log_line(command, "refused: " + reason)):
        sys.stderr.write(f"{PROG}: cannot write the log file {log}\n")
    sys.stderr.flush()
    return 1


def _check_config(opts: argparse.Namespace) -> str:
    root: str = os.path.expanduser(str(opts.run_root))
    if not os.path.isabs(root):
        raise ConfigError(f"--run-root {opts.run_root!r} is not absolute")
    if not os.path.isdir(root):
        raise ConfigError(f"--run-root {root!r} is not a directory")
    for name in ("rsync", "python"):
        value = getattr(opts, name)
        if not value or not os.path.isabs(value):
            raise ConfigError(f"--{name} {value!r} is not an absolute path")
    return root


def main(argv: Optional[List[str]] = None) -> int:
    command = os.environ.get("SSH_ORIGINAL_COMMAND")
    try:
        opts = build_parser().parse_args(argv)
        root = _check_config(opts)
    except ConfigError as exc:
        # Misconfigured in authorized_keys: refuse, saying why, to the client too.
        sys.stderr.write(f"{PROG}: refused: gate misconfigured: {exc}\n")
        return 1
    log: Optional[str] = opts.log
    if command is None:
        return _refuse("no command given (interactive login is not allowed)", command, log)
    try:
        allowed = decide(split_command(command), opts, root)
    except Refused as exc:
        return _refuse(str(exc), command, log)
    if log is not None:
        write_log(log, log_line(command, f"allowed {allowed.kind}: {list(allowed.argv)!r}"))
    try:
        os.chdir(allowed.cwd)
        # exec, not a shell: the argv was checked word by word
        os.execv(allowed.program, list(allowed.argv))  # noqa: S606
    except OSError as exc:
        return _refuse(f"cannot run {allowed.program}: {exc.strerror}", command, log)
    return 1  # not reached: execv replaces the process


if __name__ == "__main__":
    sys.exit(main())
