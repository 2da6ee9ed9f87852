"""Option values checked as they are read: a bad one is refused by argparse
naming the option (``argument --timeout: must be 0 or more seconds, got '-1'``),
exit 2."""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable

from ..states import JobState

STATES = tuple(s.value for s in JobState)


def seconds(minimum: float, inclusive: bool = True) -> Callable[[str], float]:
    """A number of seconds of at least (or, not inclusive, more than) ``minimum``."""

    def read(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expected a number of seconds, got {text!r}"
            ) from None
        if not math.isfinite(value) or value < minimum or (not inclusive and value == minimum):
            bound = f"{'at least' if inclusive else 'more than'} {minimum:g}"
            raise argparse.ArgumentTypeError(f"must be {bound} seconds, got {text!r}")
        return value

    return read


def states(text: str) -> list[JobState]:
    """``--state running,failed``: one or more state names, comma-separated."""
    found = []
    for word in filter(None, (w.strip() for w in text.split(","))):
        if word not in STATES:
            raise argparse.ArgumentTypeError(
                f"unknown state {word!r} (states: {', '.join(STATES)})"
            )
        found.append(JobState(word))
    if not found:
        raise argparse.ArgumentTypeError("expected a state name")
    return found


def add_config(p: argparse.ArgumentParser, top: bool = False) -> None:
    # accepted before and after the subcommand; SUPPRESS keeps the sub-parser
    # from overwriting a value given before it
    p.add_argument(
        "--config",
        metavar="PATH",
        default=None if top else argparse.SUPPRESS,
        help="platforms file (default: $JOBRELAY_CONFIG, else "
        "$XDG_CONFIG_HOME/jobrelay/platforms.toml; none: the built-in 'localhost')",
    )


def run_name(text: str) -> str:
    """A run to create or write into (``submit``, ``install``): a name the ledger
    and the hosts' paths take, refused here naming ``--run``."""
    from ..ledger.errors import InvalidName
    from ..ledger.rows import check_run  # sqlite3 with it: only when --run is given

    try:
        return check_run(text)
    except InvalidName as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_run(
    p: argparse.ArgumentParser,
    text: str,
    default: str | None = None,
    required: bool = False,
    new: bool = False,
) -> None:
    """``new``: the run is made or written into, so its name is checked."""
    kind = run_name if new else str
    p.add_argument("--run", metavar="R", default=default, required=required, type=kind, help=text)


def add_json(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="one JSON object per job per line on stdout")


def add_state(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--state",
        metavar="S",
        type=states,
        action="extend",
        help=f"only jobs in these states, comma-separated or repeated ({', '.join(STATES)})",
    )


def add_timeout(p: argparse.ArgumentParser, text: str) -> None:
    p.add_argument("--timeout", metavar="S", type=seconds(0), help=text)


def add_interval(
    p: argparse.ArgumentParser, text: str, default: float, stored: float | None = None
) -> None:
    """``stored``: what is kept when the option is not given (None: the caller
    can tell it was not, to refuse it where it means nothing)."""
    p.add_argument(
        "--interval",
        metavar="S",
        type=seconds(0.1),
        default=stored,
        help=f"{text} (default: {default:g}; at least 0.1)",
    )
