"""The `jobrelay` command (contract: docs/cli.md).

Exit codes: 0 all asked succeeded; 1 a job failed, was killed, lost or could
not be submitted (or an operation on a job failed); 2 bad usage, config or
ledger; 3 `wait` timed out with jobs still unfinished; 130 interrupted.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence

from .. import __version__
from ..ledger.errors import LedgerError
from ..manager.contact import RunHeld
from ..manager.controller import ControllerError
from ..platforms.errors import ConfigError
from . import commands, status
from .install_tidy import TidyRefused

REFUSALS = (ConfigError, LedgerError, ControllerError, commands.UsageError, RunHeld, TidyRefused)
EXIT_OK, EXIT_JOBS, EXIT_USAGE, EXIT_TIMEOUT = 0, 1, 2, 3


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="jobrelay", description="Submit, poll and kill batch jobs on job hosts."
    )
    p.add_argument("--version", action="version", version=f"jobrelay {__version__}")
    p.add_argument("--config", metavar="PATH", help="platforms file (else $JOBRELAY_CONFIG)")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    s = sub.add_parser("submit", help="submit scripts as jobs")
    s.add_argument("scripts", nargs="*", metavar="SCRIPT")
    s.add_argument("--platform", default="localhost")
    s.add_argument(
        "--name",
        action="append",
        default=[],
        help="job name; give once per SCRIPT, in order (default: the script's file name)",
    )
    s.add_argument("--run", default="default")
    s.add_argument(
        "-d",
        "--directive",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="portable directive: time_limit, cpus, nodes, memory, queue, account, job_name",
    )
    s.add_argument("--raw", action="append", default=[], help="native directive line, as is")
    s.add_argument("--env", action="append", default=[], metavar="NAME=VALUE")
    s.add_argument(
        "--jobs",
        metavar="FILE",
        help="JSON lines, one job each: {script, name, directives, env} ('-' = stdin)",
    )
    s.add_argument(
        "-o",
        "--output",
        metavar="PATH",
        help="the job's stdout and stderr, an absolute path on the job host (as sbatch --output)",
    )
    s.add_argument("--wait", action="store_true", help="wait until all are final")
    s.add_argument("--timeout", type=float, help="with --wait: give up after S seconds")
    s.add_argument("--json", action="store_true")

    for name, text in (("poll", "ask the hosts, update the ledger"), ("list", "the ledger only")):
        c = sub.add_parser(name, help=text)
        if name == "poll":
            c.add_argument("jobs", nargs="*", metavar="JOB")
        c.add_argument("--run")
        c.add_argument("--json", action="store_true")

    k = sub.add_parser("kill", help="kill jobs")
    k.add_argument("jobs", nargs="+", metavar="JOB")
    k.add_argument("--run")
    k.add_argument("--json", action="store_true")

    status.add_parser(sub)

    w = sub.add_parser("wait", help="wait until jobs are final; exit 0 iff all succeeded")
    w.add_argument("jobs", nargs="+", metavar="JOB")
    w.add_argument("--run")
    w.add_argument("--timeout", type=float)
    w.add_argument("--json", action="store_true")

    lg = sub.add_parser("logs", help="print a job's output")
    lg.add_argument("job", metavar="JOB")
    lg.add_argument("--run")
    lg.add_argument("--err", action="store_true", help="job.err instead of job.out")

    wt = sub.add_parser("watch", help="live table of a run's jobs")
    wt.add_argument("--run")
    wt.add_argument("--interval", type=float, default=2.0)
    ins = sub.add_parser("install", help="copy files into a run's dir on an install target")
    ins.add_argument("paths", nargs="+", metavar="PATH", help="file, dir or glob under --from")
    ins.add_argument("--platform", required=True)
    ins.add_argument("--run", default="default")
    ins.add_argument("--from", dest="source", default=".", help="source dir (default: .)")
    ins.add_argument(
        "--exclude", action="append", default=[], metavar="PATTERN", help="e.g. '*.pyc', 'data/'"
    )

    td = sub.add_parser("tidy", help="remove a run's dirs from its install targets")
    td.add_argument("--run", required=True)
    td.add_argument("--force", action="store_true", help="even with jobs not final")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return asyncio.run(commands.dispatch(args))
    except (
        ConfigError,
        LedgerError,
        ControllerError,
        commands.UsageError,
        RunHeld,
        TidyRefused,
    ) as exc:
        print(f"jobrelay: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
