"""docs/cli.md against the parser: every option of every command is in the
command's section, every option a section names exists, and the exit codes
documented are the ones --help states."""

from __future__ import annotations

import re
from pathlib import Path

from jobrelay.cli.completion import flags, subparsers
from jobrelay.cli.exits import EXIT_CODES
from jobrelay.cli.parser import build, chosen_command

DOC = (Path(__file__).resolve().parent.parent / "docs" / "cli.md").read_text()
COMMON = {"-h", "--help", "--config"}  # documented once, under "Options of every command"
OPTION = re.compile(r"(?<![\w-])(--?[a-z][a-z-]*)")


def sections() -> dict[str, str]:
    """Command name -> the text of its ``### `jobrelay NAME ...``` section."""
    parts = re.split(r"^### `jobrelay (\S+)[^`]*`\n", DOC, flags=re.M)
    found = {}
    for name, text in zip(parts[1::2], parts[2::2], strict=True):
        found[name] = text.split("\n## ", 1)[0]
    return found


def documented_options(text: str) -> set[str]:
    """Options in the first column of the section's option table."""
    found: set[str] = set()
    for line in text.splitlines():
        if line.startswith("| `-"):
            found.update(OPTION.findall(line.split("|")[1]))
    return found


def test_every_command_has_a_section() -> None:
    assert set(sections()) == set(subparsers(build()))


def test_options_in_parser_and_docs_agree() -> None:
    docs = sections()
    for name, parser in subparsers(build()).items():
        in_parser = set(flags(parser)) - COMMON
        in_docs = documented_options(docs[name])
        assert in_parser - in_docs == set(), f"{name}: options not in docs/cli.md"
        assert in_docs - in_parser == set(), f"{name}: docs/cli.md names unknown options"
        # an option named anywhere in the section's prose exists too
        prose = set(OPTION.findall(docs[name].replace("`-`", ""))) - COMMON
        assert prose <= in_parser, f"{name}: {prose - in_parser}"


def test_every_option_has_help_text() -> None:
    for name, parser in subparsers(build()).items():
        for action in parser._actions:
            assert action.help, f"{name} {action.option_strings or action.dest}: no help"


def test_exit_codes_match() -> None:
    table = DOC.split("## Exit codes", 1)[1]
    in_docs = set(re.findall(r"^\| (\d+) \|", table, flags=re.M))
    in_help = set(re.findall(r"^  (\d+) ", EXIT_CODES, flags=re.M))
    assert in_docs == in_help == {"0", "1", "2", "3", "130"}


def test_the_parser_built_for_one_command_reads_as_the_whole_one() -> None:
    """main() builds only the sub-parser the command line names (start cost)."""
    lines = [
        ["list", "--run", "r", "--state", "failed", "--json"],
        ["--config", "/x.toml", "submit", "--platform", "p", "-d", "cpus=2", "a.sh"],
        ["--config=/x.toml", "kill", "--run", "r"],
        ["wait", "--timeout", "0", "r/1"],
        ["logs", "-f", "r/2", "--config", "/y.toml"],
    ]
    for argv in lines:
        assert chosen_command(argv) == next(
            w for w in argv if not w.startswith("-") and "/" not in w
        )
        assert build(argv).parse_args(argv) == build().parse_args(argv), argv
    for argv in (["--version"], ["-h"], ["lst"], ["--config", "x"], []):
        assert chosen_command(argv) is None  # the whole parser answers these
