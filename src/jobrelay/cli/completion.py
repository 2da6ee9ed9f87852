"""Shell completion: `jobrelay completion bash|zsh` prints a script (made from
the parser, so it knows every command and option); the script asks
`jobrelay __complete platforms|runs|jobs` for the names that live in the
config and the ledger. zsh runs the bash function through bashcompinit."""

from __future__ import annotations

import argparse
import re
import sys

from ..state_dir import home_dir
from .exits import OK
from .options import STATES

PLAIN = re.compile(r"[\w.@%+=:,/-]+")  # names offered as they are; others only by reference
FILE_OPTIONS = ("--config", "--jobs", "--from")
DYNAMIC = {"--platform": "platforms", "--run": "runs"}

BASH = r"""
_jobrelay() {
    local cur="${COMP_WORDS[COMP_CWORD]}" prev="${COMP_WORDS[COMP_CWORD-1]}"
    local cmd="" i opts
    for ((i = 1; i < COMP_CWORD; i++)); do
        case "${COMP_WORDS[i]}" in
            --config) ((i++)) ;;
            -*) ;;
            *) cmd="${COMP_WORDS[i]}"; break ;;
        esac
    done
    local ask="${COMP_WORDS[0]} __complete"
    case "$prev" in
        %(dynamic)s
        %(files)s) COMPREPLY=($(compgen -f -- "$cur")); return ;;
        --state) COMPREPLY=($(compgen -W "%(states)s" -- "$cur")); return ;;
        --timeout|--interval|--name|-d|--directive|--raw|--env|--exclude) return ;;
    esac
    if [[ -z "$cmd" ]]; then
        COMPREPLY=($(compgen -W "%(commands)s --config --version --help" -- "$cur"))
        return
    fi
    if [[ "$cur" == -* ]]; then
        case "$cmd" in
            %(options)s
        esac
        COMPREPLY=($(compgen -W "$opts" -- "$cur"))
        return
    fi
    case "$cmd" in
        %(positionals)s
    esac
}
complete -F _jobrelay jobrelay
"""


def cmd_completion(args: argparse.Namespace) -> int:
    sys.stdout.write(script(args.shell))
    return OK


def script(shell: str) -> str:
    from .parser import build

    commands = subparsers(build())
    options = "\n            ".join(
        f"{name}) opts={' '.join(flags(p))!r} ;;" for name, p in commands.items()
    )
    positionals = "\n        ".join(
        f"{name}) {positional(name, p)} ;;" for name, p in commands.items()
    )
    dynamic = "\n        ".join(
        f'{o}) COMPREPLY=($(compgen -W "$($ask {k} 2>/dev/null)" -- "$cur")); return ;;'
        for o, k in DYNAMIC.items()
    )
    text = BASH % {
        "dynamic": dynamic,
        "files": "|".join(FILE_OPTIONS),
        "states": " ".join(STATES),
        "commands": " ".join(commands),
        "options": options,
        "positionals": positionals,
    }
    if shell == "zsh":
        return "#compdef jobrelay\nautoload -U +X bashcompinit && bashcompinit\n" + text
    return "# jobrelay completion for bash: source it, or put it in" \
        " ~/.local/share/bash-completion/completions/jobrelay\n" + text  # fmt: skip


def subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    """The visible subcommands by name, in the parser's order."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            shown = {a.dest for a in action._choices_actions}
            return {n: p for n, p in action.choices.items() if n in shown}
    return {}


def flags(p: argparse.ArgumentParser) -> list[str]:
    return [s for a in p._actions for s in a.option_strings]


def positional(name: str, p: argparse.ArgumentParser) -> str:
    metavars = {a.metavar for a in p._actions if not a.option_strings}
    if "JOB" in metavars:
        return 'COMPREPLY=($(compgen -W "$($ask jobs 2>/dev/null)" -- "$cur"))'
    if metavars & {"SCRIPT", "PATH"}:
        return 'COMPREPLY=($(compgen -f -- "$cur"))'
    choices = [c for a in p._actions if not a.option_strings and a.choices for c in a.choices]
    return f'COMPREPLY=($(compgen -W "{" ".join(choices)}" -- "$cur"))' if choices else ":"


def cmd_complete(args: argparse.Namespace) -> int:
    """Names for the completion script, one a line; nothing on any problem."""
    try:
        words = names(args)
    except Exception:  # a completion must never print a traceback at a prompt
        words = []
    sys.stdout.write("".join(f"{w}\n" for w in words if PLAIN.fullmatch(w)))
    return OK


def names(args: argparse.Namespace) -> list[str]:
    if args.kind == "platforms":
        from ..platforms.config import load_platforms

        return sorted(load_platforms(args.config))
    path = home_dir() / "ledger.sqlite"
    if not path.exists():
        return []
    from ..ledger.store import Ledger

    with Ledger.open(path) as ledger:
        if args.kind == "runs":
            return [r.run for r in ledger.runs()]
        jobs = ledger.find()[-500:]  # the latest: what people act on
        return [j.ref for j in jobs] + sorted({j.name for j in jobs})
