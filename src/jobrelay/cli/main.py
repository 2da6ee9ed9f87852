"""The `jobrelay` command (contract: docs/cli.md; exit codes: exits.py).

Only the chosen command's module is imported, so a command that reads the
ledger starts without the controller, asyncio or rich.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Sequence

from ..ledger.errors import LedgerError
from ..state_dir import StateDirError
from . import exits
from .parser import build, command_parser

REFUSALS = (LedgerError, StateDirError, exits.UsageError)


def main(argv: Sequence[str] | None = None) -> int:
    line = sys.argv[1:] if argv is None else list(argv)
    if line == ["--version"]:  # what argparse would print, without building it
        from .. import __version__

        print(f"jobrelay {__version__}")
        return exits.OK
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
        # imported here: the platforms package loads the transports (and asyncio)
        from ..platforms.errors import ConfigError

        if not isinstance(exc, (*REFUSALS, ConfigError)):
            raise
        exits.say(str(exc))
        return exits.USAGE


if __name__ == "__main__":
    sys.exit(main())
