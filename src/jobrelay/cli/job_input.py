"""What `jobrelay submit` is told about its jobs: SCRIPTs with ``-d``, ``--raw``
and ``--env``, and ``--jobs`` JSON lines.

Every problem of every job is found before anything is submitted and reported
at once (``UsageError``: exit 2), each naming where it is (the option, or the
``--jobs`` line and the job) and the key. Directives are read by the one
schema (``runners/directives.py``) and checked against the platform's runner.
Precedence, lowest first: the platform's directives, ``-d``/``--raw``, a
``--jobs`` line's own ``directives`` (field by field; ``raw`` as a whole).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ..host_dataclasses import replace
from ..ledger.errors import InvalidName
from ..ledger.rows import check_text
from ..manager.job_directives import refusal_text, unique, with_platform
from ..manager.submit_item import SubmitItem
from ..platforms.config import find_config
from ..platforms.errors import ConfigError
from ..platforms.model import Platform
from ..runners.directives import Directives, merge, read_partly
from ..runners.registry import RunnerLoadError, runner_class
from .ecflow import with_ecflow_tasks
from .exits import UsageError

TYPE_CHECKING = False  # importing typing costs a one-shot submit's start: names for mypy only
if TYPE_CHECKING:
    from typing import Any

#: the keys a --jobs line may have; any other is an error (a typo must not be ignored)
JOB_LINE_KEYS = ("script", "name", "directives", "env")


def submit_items(args: argparse.Namespace, platform: Platform) -> list[SubmitItem]:
    """The jobs to submit, in order: SCRIPTs, then ``--jobs`` lines."""
    problems: list[str] = []
    directives = option_directives(args.directive, args.raw, problems)
    env = option_env(args.env, problems)
    if args.name and len(args.name) != len(args.scripts):
        problems.append(f"{len(args.name)} --name for {len(args.scripts)} SCRIPT: give one each")
    items = []
    for i, script in enumerate(args.scripts):
        name = args.name[i] if i < len(args.name) else Path(script).name
        where = f"job {name!r} (SCRIPT {script})"
        _, beyond = with_platform(platform, directives)  # what the runner cannot write
        problems.extend(f"{where}: directive {p}" for p in beyond)
        problems.extend(f"{where}: {p}" for p in _name_problem(name, "--name"))
        problems.extend(f"{where}: {p}" for p in _script_problem(script, "cannot read"))
        items.append(SubmitItem(Path(script), name, directives, env, source=f"SCRIPT {script}"))
    if args.jobs:
        before = len(items), len(problems)
        items.extend(read_jobs(args.jobs, directives, env, platform, problems))
        if (len(items), len(problems)) == before:
            problems.append(f"--jobs {args.jobs}: no job in it (one JSON object per line)")
    if args.output is not None:
        items = with_output(items, args.output, problems)
    if problems:
        raise UsageError(refusal_text(problems))
    if not items:
        raise UsageError("submit: give SCRIPT… or --jobs FILE")
    return with_ecflow_tasks(items)


def with_output(items: list[SubmitItem], output: str, problems: list[str]) -> list[SubmitItem]:
    """``-o PATH``: one job's stdout and stderr, a path on the job host."""
    if len(items) != 1:
        problems.append(f"-o/--output is for one job, not {len(items)}")
    if not output.startswith("/"):
        problems.append(f"-o/--output {output!r}: must be an absolute path (on the job host)")
    return [replace(item, output=output) for item in items]


def option_directives(pairs: list[str], raw: list[str], problems: list[str]) -> Directives:
    """``-d KEY=VALUE`` (text values) and ``--raw LINE`` (``-d raw=LINE`` is the same)."""
    values: dict[str, Any] = {}
    lines = []
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            problems.append(f"--directive {pair!r}: expected KEY=VALUE")
        elif key == "raw":
            lines.append(value)
        else:
            values[key] = value  # given twice: the last one wins, as with any option
    lines.extend(raw)
    if lines:
        values["raw"] = lines
    directives, bad = read_partly(values, text=True)
    for problem in bad:
        option = "--raw" if problem.key == "raw" else f"--directive {problem.key}"
        problems.append(f"{option}: {problem.message}")
    return directives


def option_env(pairs: list[str], problems: list[str]) -> dict[str, str]:
    env = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.isidentifier():
            problems.append(f"--env {pair!r}: expected NAME=VALUE")
        else:
            env[name] = value
    return env


def read_jobs(
    source: str,
    directives: Directives,
    env: dict[str, str],
    platform: Platform,
    problems: list[str],
) -> list[SubmitItem]:
    """One job per non-blank line of ``source`` (``-`` is standard input)."""
    try:
        text = sys.stdin.read() if source == "-" else Path(source).read_text("utf-8")
    except OSError as exc:
        problems.append(f"--jobs {source}: cannot read: {exc.strerror or exc}")
        return []
    except UnicodeDecodeError:
        problems.append(f"--jobs {source}: not UTF-8 text")
        return []
    items = []
    for n, line in enumerate(text.splitlines(), 1):
        if line.strip():
            item = job_line(line, f"--jobs {source} line {n}", directives, env, platform, problems)
            if item is not None:
                items.append(item)
    return items


def job_line(
    line: str,
    where: str,
    directives: Directives,
    env: dict[str, str],
    platform: Platform,
    problems: list[str],
) -> SubmitItem | None:
    """One ``--jobs`` line: ``{"script": …, "name": …, "directives": {…}, "env": {…}}``."""
    try:
        data = json.loads(line)
    except json.JSONDecodeError as exc:
        problems.append(f"{where}: not JSON: {exc.msg} (column {exc.colno})")
        return None
    if not isinstance(data, dict):
        problems.append(f"{where}: must be a JSON object {{...}}")
        return None
    found: list[str] = []
    known = ", ".join(JOB_LINE_KEYS)
    found.extend(
        f"unknown key {key!r} (known: {known})" for key in data if key not in JOB_LINE_KEYS
    )
    script = data.get("script")
    if not isinstance(script, str) or not script:
        found.append("script: required, the path of the job's script")
        script = ""
    name = data.get("name") or Path(script).name
    if not isinstance(name, str):
        found.append(f"name: must be a string, got {type(name).__name__}")
        name = ""
    own = Directives()
    given = data.get("directives") or {}
    if isinstance(given, dict):
        own, bad = read_partly(given)
        merged = merge(directives, own)
        _, beyond = with_platform(platform, merged)
        found.extend(f"directive {p}" for p in unique(bad + beyond))
    else:
        found.append("directives: must be an object {KEY: VALUE}")
    more_env = _line_env(data.get("env") or {}, found)
    if name:
        found.extend(_name_problem(name, "name"))
    if script:
        found.extend(_script_problem(script, f"script {script}: cannot read"))
    label = f"{where} (job {name!r})" if name else where
    problems.extend(f"{label}: {text}" for text in found)
    if found:
        return None
    return SubmitItem(Path(script), name, merge(directives, own), {**env, **more_env}, label)


def _name_problem(name: str, what: str) -> list[str]:
    """The ledger's refusal of a job name (empty, NUL), found with the others."""
    try:
        check_text("job name", name)
    except InvalidName as exc:
        return [f"{what}: {exc}"]
    return []


def _script_problem(script: str, what: str) -> list[str]:
    """A script that cannot be read, found before any job is submitted (the
    controller reads it again to send it: this one only opens it)."""
    try:
        with open(script, "rb"):
            pass
    except OSError as exc:
        return [f"{what}: {exc.strerror or exc}"]
    return []


def _line_env(given: object, found: list[str]) -> dict[str, str]:
    if not isinstance(given, dict):
        found.append("env: must be an object {NAME: text}")
        return {}
    for name, value in given.items():
        if not name.isidentifier():
            found.append(f"env: {name!r} is not a variable name")
        elif not isinstance(value, str):
            found.append(f"env {name}: must be a string, got {type(value).__name__}")
    return {k: v for k, v in given.items() if isinstance(v, str)}


def check_runner(args: argparse.Namespace, platform: Platform) -> None:
    """A runner that cannot be loaded is a config problem: said as one, naming the file."""
    try:
        runner_class(platform.runner)
    except RunnerLoadError as exc:
        path, _ = find_config(args.config)
        problem = str(exc).removeprefix(f"runner {platform.runner!r}: ")
        raise ConfigError(path or "(built-in config)", platform.name, "runner", problem) from exc
