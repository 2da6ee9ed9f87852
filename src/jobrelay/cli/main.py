"""The `jobrelay` command (contract: docs/cli.md; exit codes: exits.py).

Only the chosen command's module is imported, so a command that reads the
ledger starts without the controller, asyncio or rich.
"""

from __future__ import annotations

import importlib
import sys

from . import exits

TYPE_CHECKING = False  # importing typing costs every command's start: names for mypy only
if TYPE_CHECKING:
    from collections.abc import Callable, Sequence


def main(argv: Sequence[str] | None = None) -> int:
    line = sys.argv[1:] if argv is None else list(argv)
    if line == ["--version"]:  # what argparse would print, without building it
        from .. import __version__

        print(f"jobrelay {__version__}")
        return exits.OK
    words_as_given()  # before anything imports argparse
    from .parser import build, command_parser  # not for --version: argparse and the options

    parser = build(line)
    args, extra = parser.parse_known_args(line)
    if extra:  # said by the command's own parser: its usage, not the top one's
        command_parser(parser, args.command).error(f"unrecognized arguments: {' '.join(extra)}")
    module, _, function = args.run_command.partition(":")
    command: Callable[..., int] = getattr(
        importlib.import_module(f"{__package__}.{module}"), function
    )
    try:
        return command(args)
    except KeyboardInterrupt:
        return exits.INTERRUPTED
    except Exception as exc:
        if not isinstance(exc, refusals()):
            raise
        exits.say(str(exc))
        return exits.USAGE


def words_as_given() -> None:
    """argparse passes its own words ("usage: ", "options", ...) through gettext:
    importing ``gettext`` costs about 1.5 ms and each call imports ``locale`` and
    looks for a catalog of the user's language, about 2 ms more. CPython
    installs no catalog for argparse, so the words come back as given anyway,
    and jobrelay's own text is English: its parser takes them as given.

    argparse binds the two names at its import, so a stand-in ``gettext`` is
    in ``sys.modules`` only while argparse is imported, and is taken out
    again: a later ``import gettext`` gets the real module."""
    if "argparse" not in sys.modules and "gettext" not in sys.modules:
        stand_in = type(sys)("gettext")
        stand_in.__dict__.update(gettext=str, ngettext=_plural)
        sys.modules["gettext"] = stand_in
        try:
            import argparse
        finally:
            del sys.modules["gettext"]
    import argparse

    argparse.__dict__.update(_=str, ngettext=_plural)


def _plural(singular: str, plural: str, n: int) -> str:
    return singular if n == 1 else plural


def refusals() -> tuple[type[Exception], ...]:
    """What ends a command with exit 2 and a message, not a traceback: imported
    only when a command fails (the platforms package loads the transports)."""
    from ..ledger.errors import LedgerError
    from ..platforms.errors import ConfigError
    from ..state_dir import StateDirError

    return (LedgerError, StateDirError, exits.UsageError, ConfigError)


if __name__ == "__main__":
    sys.exit(main())
