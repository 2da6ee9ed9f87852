"""The `jobrelay` command line (contract: docs/cli.md; tests/test_cli_docs.py
checks that every option here is documented there and the other way round).

Every subcommand is registered in ``COMMANDS`` (one place): its name, its
options, and the ``module:function`` that runs it, imported only when that
command runs so that `list` does not load the controller.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence

from .. import __version__
from ..host_dataclasses import dataclass
from .exits import EXIT_CODES
from .options import add_config, add_interval, add_json, add_run, add_state, add_timeout

FOLLOW_INTERVAL = 2.0  # logs --follow, when --interval is not given

JOB_FORMS = """\
JOB is RUN/ID (as printed, e.g. default/17), an ID, a NAME (its latest
submission), RUN/NAME (the latest submission of NAME in RUN) or a job
file's path (its latest submission); --run R narrows ID and NAME to run R."""

WHERE = """\
configuration: --config PATH, else $JOBRELAY_CONFIG, else
$XDG_CONFIG_HOME/jobrelay/platforms.toml (~/.config/jobrelay/...); no file:
one platform 'localhost' (background jobs under ~/jobrelay-run).
state (ledger, logs): $JOBRELAY_HOME, else $XDG_DATA_HOME/jobrelay
(~/.local/share/jobrelay)."""


class Formatter(argparse.RawDescriptionHelpFormatter):
    """argparse's formatter, sized as argparse sizes it but without importing
    ``shutil`` (and bz2, lzma with it) for every command: argparse makes one
    formatter per option it adds."""

    def __init__(
        self,
        prog: str,
        indent_increment: int = 2,
        max_help_position: int = 24,
        width: int | None = None,
    ) -> None:
        if width is None:
            width = _columns() - 2
        super().__init__(prog, indent_increment, max_help_position, width)


def _columns() -> int:
    """``shutil.get_terminal_size().columns``: $COLUMNS, the terminal, else 80."""
    try:
        return int(os.environ["COLUMNS"])
    except (KeyError, ValueError):
        pass
    try:
        return os.get_terminal_size(sys.__stdout__.fileno()).columns or 80  # type: ignore[union-attr]
    except (AttributeError, ValueError, OSError):
        return 80


@dataclass(frozen=True)
class Command:
    name: str
    help: str
    options: Callable[[argparse.ArgumentParser], None]
    run: str  # "module:function" under jobrelay.cli, called with the parsed args
    hidden: bool = False


def _submit(p: argparse.ArgumentParser) -> None:
    p.add_argument("scripts", nargs="*", metavar="SCRIPT", help="job script(s) to submit")
    p.add_argument(
        "--platform", metavar="P", default="localhost", help="where to run (default: localhost)"
    )
    p.add_argument(
        "--name",
        metavar="N",
        action="append",
        default=[],
        help="job name; once per SCRIPT, in order (default: the script's file name)",
    )
    add_run(p, "run to put the jobs in (default: default)", default="default", new=True)
    p.add_argument(
        "-d",
        "--directive",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="portable directive: time_limit, cpus, nodes, memory, queue, account, job_name",
    )
    p.add_argument(
        "--raw", metavar="LINE", action="append", default=[], help="native directive line, as is"
    )
    p.add_argument(
        "--env", action="append", default=[], metavar="NAME=VALUE", help="set in the job"
    )
    p.add_argument(
        "--jobs",
        metavar="FILE",
        help="JSON lines, one job each: {script, name, directives, env} ('-' = stdin)",
    )
    p.add_argument(
        "-o",
        "--output",
        metavar="PATH",
        help="one job's stdout and stderr: an absolute path on the job host (as sbatch --output)",
    )
    p.add_argument(
        "--wait", action="store_true", help="then wait until all are final, showing progress"
    )
    add_timeout(p, "with --wait: stop waiting after S seconds, exit 3 (default: no limit)")
    add_json(p)


def _poll(p: argparse.ArgumentParser) -> None:
    p.add_argument("jobs", nargs="*", metavar="JOB", help="jobs to ask about")
    add_run(p, "without JOB: every job of run R (default: every job); with JOB: look JOB up in R")
    add_state(p)
    add_json(p)


def _list(p: argparse.ArgumentParser) -> None:
    add_run(p, "only run R (default: every run)")
    add_state(p)
    add_json(p)


def _show(p: argparse.ArgumentParser) -> None:
    p.add_argument("job", metavar="JOB", help="the job")
    add_run(p, "look JOB up in run R")
    add_json(p)


def _status(p: argparse.ArgumentParser) -> None:
    p.add_argument("job", metavar="JOB", help="the job, e.g. the job file's path")
    add_run(p, "look JOB up in run R")
    p.add_argument(
        "--platform", metavar="P", help="refuse a job of another platform (troika's form)"
    )
    p.add_argument(
        "--write-stat", action="store_true", help="also write the report to <jobfile>.stat"
    )
    add_json(p)


def _kill(p: argparse.ArgumentParser) -> None:
    p.add_argument("jobs", nargs="*", metavar="JOB", help="jobs to kill")
    add_run(p, "without JOB: every non-final job of run R; with JOB: look JOB up in R")
    add_json(p)


def _wait(p: argparse.ArgumentParser) -> None:
    p.add_argument("jobs", nargs="*", metavar="JOB", help="jobs to wait for")
    add_run(p, "without JOB: every job of run R; with JOB: look JOB up in R")
    add_timeout(p, "stop waiting after S seconds, exit 3; 0 polls once (default: no limit)")
    add_json(p)


def _logs(p: argparse.ArgumentParser) -> None:
    p.add_argument("job", metavar="JOB", help="the job")
    add_run(p, "look JOB up in run R")
    p.add_argument("--err", action="store_true", help="job.err instead of job.out")
    p.add_argument(
        "-f", "--follow", action="store_true", help="keep printing new output until the job ends"
    )
    add_interval(p, "with --follow: seconds between looks", FOLLOW_INTERVAL)


def _watch(p: argparse.ArgumentParser) -> None:
    add_run(p, "the run to watch (default: the run of the latest submitted job)")
    add_interval(p, "seconds between polls", 2.0, stored=2.0)


def _install(p: argparse.ArgumentParser) -> None:
    p.add_argument("paths", nargs="+", metavar="PATH", help="file, dir or glob under --from")
    p.add_argument("--platform", metavar="P", required=True, help="whose install target")
    add_run(p, "into <run_root>/R (default: default)", default="default", new=True)
    p.add_argument(
        "--from", metavar="DIR", dest="source", default=".", help="source dir (default: .)"
    )
    p.add_argument(
        "--exclude",
        action="append",
        default=[],
        metavar="PATTERN",
        help="leave out, e.g. '*.pyc', 'data/' (repeatable)",
    )


def _tidy(p: argparse.ArgumentParser) -> None:
    add_run(p, "the run whose dirs to remove", required=True)
    p.add_argument("--force", action="store_true", help="even with jobs not final")


def _completion(p: argparse.ArgumentParser) -> None:
    p.add_argument("shell", choices=("bash", "zsh"), help="the shell: bash or zsh")


def _complete(p: argparse.ArgumentParser) -> None:
    p.add_argument("kind", choices=("platforms", "jobs", "runs"))


COMMANDS = [
    Command("submit", "submit scripts as jobs", _submit, "submit:cmd_submit"),
    Command("poll", "ask the hosts, update the ledger", _poll, "poll:cmd_poll"),
    Command("list", "the ledger's jobs (no host is contacted)", _list, "history:cmd_list"),
    Command("show", "a job's whole story: states, messages, errors, paths", _show,
            "history:cmd_show"),
    Command("status", "poll one job and report on it (exit 0 alive, 1 ended)", _status,
            "status:cmd_status"),
    Command("kill", "kill jobs and verify them gone", _kill, "kill:cmd_kill"),
    Command("wait", "wait until jobs are final; exit 0 iff all succeeded", _wait,
            "job_verbs:cmd_wait"),
    Command("logs", "print a job's output", _logs, "logs:cmd_logs"),
    Command("watch", "live view of a run's jobs until all are final", _watch,
            "watch:cmd_watch"),
    Command("install", "copy files into a run's dir on an install target", _install,
            "install_tidy:cmd_install"),
    Command("tidy", "remove a run's dirs from its install targets", _tidy,
            "install_tidy:cmd_tidy"),
    Command("completion", "print a shell completion script (bash or zsh)", _completion,
            "completion:cmd_completion"),
    Command("__complete", "", _complete, "completion:cmd_complete", hidden=True),
]  # fmt: skip


def build(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The parser; given the command line, only the command it names is built
    (each sub-parser costs a millisecond or two of a one-shot command's start).
    """
    chosen = chosen_command(argv) if argv is not None else None
    p = argparse.ArgumentParser(
        prog="jobrelay",
        description="Submit, poll and kill batch jobs on job hosts.",
        epilog=f"{JOB_FORMS}\n\n{WHERE}\n\n{EXIT_CODES}",
        formatter_class=Formatter,
    )
    p.add_argument("--version", action="version", version=f"jobrelay {__version__}")
    add_config(p, top=True)
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in COMMANDS:
        if chosen is not None and command.name != chosen:
            continue
        c = sub.add_parser(
            command.name,
            help=command.help,
            description=command.help,
            epilog=f"{JOB_FORMS}\n\n{EXIT_CODES}",
            formatter_class=Formatter,
        )
        if command.hidden:  # out of the list --help shows
            sub._choices_actions = [a for a in sub._choices_actions if a.dest != command.name]
        command.options(c)
        add_config(c)
        c.set_defaults(run_command=command.run)
    return p


def command_parser(parser: argparse.ArgumentParser, name: str) -> argparse.ArgumentParser:
    """The sub-parser of command ``name`` (for its own usage in an error)."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction) and name in action.choices:
            found: argparse.ArgumentParser = action.choices[name]
            return found
    return parser


def chosen_command(argv: Sequence[str]) -> str | None:
    """The command ``argv`` names after the global options; None when it names
    none (help, --version, a typo: the whole parser then answers)."""
    names = {command.name for command in COMMANDS}
    tokens = iter(argv)
    for word in tokens:
        if word in names:
            return word
        if word == "--config":
            next(tokens, None)  # its value
        elif not word.startswith("--config="):
            return None
    return None
