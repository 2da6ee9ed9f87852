"""One directive schema, every input form.

The table ``CASES`` gives each documented directive (aliases included) in
its command-line text form and its JSON/TOML form; every case goes through
every input form: ``submit -d``/``--raw`` and ``submit --jobs`` (the CLI's
parsing, then the controller's settling), a platform's TOML ``directives``,
the library's ``SubmitItem`` mapping, and the agent's wire. Bad directives
are reported all at once, naming the job and the key, before any host is
contacted.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cli_harness import Cli, local_cli

from jobrelay.cli.job_input import UsageError, submit_items
from jobrelay.cli.parser import build as parser
from jobrelay.engine.submit import directives as agent_directives
from jobrelay.manager.controller import SubmitItem
from jobrelay.manager.job_directives import settle
from jobrelay.platforms import ConfigError, Platform, load_config
from jobrelay.runners.directives import KEYS, DirectiveError, Directives, read_directives

ROOT = Path(__file__).resolve().parent.parent
SLURM = Platform(name="hpc", runner="slurm")  # has a form for every portable directive

# key, command-line text, JSON/TOML value, Directives field, what it must hold
CASES: list[tuple[str, str, Any, str, Any]] = [
    ("time_limit", "3", 3, "time_limit", 3),
    ("time_limit", "1:30:00", "1:30:00", "time_limit", 5400),
    ("time_limit", "1-00:00:01", "1-00:00:01", "time_limit", 86401),
    ("time_limit", "90s", "90s", "time_limit", 90),
    ("time_limit", "1h30m", "1h30m", "time_limit", 5400),
    ("time_limit", "2d", "2d", "time_limit", 172800),
    ("cpus", "4", 4, "cpus", 4),
    ("nodes", "2", 2, "nodes", 2),
    ("memory", "1G", "1G", "memory_mb", 1024),
    ("memory", "500", 500, "memory_mb", 500),
    ("memory", "2048K", "2048K", "memory_mb", 2),
    ("queue", "short", "short", "queue", "short"),
    ("partition", "debug", "debug", "queue", "debug"),
    ("account", "proj-1", "proj-1", "account", "proj-1"),
    ("job_name", "my job; $(x)", "my job; $(x)", "job_name", "my job; $(x)"),
    ("raw", "#SBATCH --qos=high", ["#SBATCH --qos=high"], "raw", ("#SBATCH --qos=high",)),
]


@pytest.fixture(autouse=True)
def scripts_here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The scripts these jobs name exist: `submit` checks each can be read."""
    monkeypatch.chdir(tmp_path)
    for name in ("a.sh", "b.sh", "c.sh"):
        (tmp_path / name).write_text("#!/bin/sh\ntrue\n")


def via_option(tmp: Path, key: str, text: str, value: Any) -> Directives:
    flag = ["--raw", text] if key == "raw" else ["-d", f"{key}={text}"]
    items = submit_items(parser().parse_args(["submit", "a.sh", *flag]), SLURM)
    return settled(SLURM, items)


def via_jobs_line(tmp: Path, key: str, text: str, value: Any) -> Directives:
    jobs = tmp / "jobs.jsonl"
    jobs.write_text(json.dumps({"script": "a.sh", "directives": {key: value}}) + "\n")
    items = submit_items(parser().parse_args(["submit", "--jobs", str(jobs)]), SLURM)
    return settled(SLURM, items)


def via_toml(tmp: Path, key: str, text: str, value: Any) -> Directives:
    config = tmp / "platforms.toml"
    table = f"[platforms.hpc.directives]\n{key} = {json.dumps(value)}\n"
    config.write_text(f'[platforms.hpc]\nrunner = "slurm"\n{table}')
    platform = load_config(config)["hpc"]
    return settled(platform, [SubmitItem(Path("a.sh"), "a")])


def via_library(tmp: Path, key: str, text: str, value: Any) -> Directives:
    return settled(SLURM, [SubmitItem(Path("a.sh"), "a", {key: value})])


def via_wire(tmp: Path, key: str, text: str, value: Any) -> Directives:
    sent = json.loads(json.dumps(via_library(tmp, key, text, value).to_wire()))
    return agent_directives(sent)  # what the agent makes of the request's "directives"


def settled(platform: Platform, items: list[SubmitItem]) -> Directives:
    (directives,), problems = settle(platform, items)
    assert problems == []
    return directives


FORMS: dict[str, Callable[[Path, str, str, Any], Directives]] = {
    "-d/--raw": via_option,
    "--jobs": via_jobs_line,
    "toml": via_toml,
    "library": via_library,
    "wire": via_wire,
}


@pytest.mark.parametrize("form", sorted(FORMS))
@pytest.mark.parametrize(("key", "text", "value", "field", "expected"), CASES)
def test_every_directive_through_every_form(
    tmp_path: Path, form: str, key: str, text: str, value: Any, field: str, expected: Any
) -> None:
    got = FORMS[form](tmp_path, key, text, value)
    assert got == Directives(**{field: expected})


def test_the_table_covers_the_schema_and_the_docs_name_every_key() -> None:
    assert {case[0] for case in CASES} == set(KEYS)
    for doc in ("docs/cli.md", "docs/configuration.md"):
        text = (ROOT / doc).read_text()
        missing = [k for k in KEYS if f"`{k}`" not in text]
        assert missing == [], (doc, missing)


def test_precedence_platform_then_options_then_the_jobs_line(tmp_path: Path) -> None:
    platform = Platform(
        name="hpc",
        runner="slurm",
        directives=Directives(time_limit=60, cpus=1, queue="short", raw=("#SBATCH --qos=p",)),
    )
    jobs = tmp_path / "jobs.jsonl"
    jobs.write_text(json.dumps({"script": "a.sh", "directives": {"partition": "long"}}) + "\n")
    args = parser().parse_args(
        ["submit", "a.sh", "-d", "cpus=4", "--raw", "#SBATCH --qos=d", "--jobs", str(jobs)]
    )
    script, line = settle(platform, submit_items(args, platform))[0]
    assert script == Directives(time_limit=60, cpus=4, queue="short", raw=("#SBATCH --qos=d",))
    assert line == Directives(time_limit=60, cpus=4, queue="long", raw=("#SBATCH --qos=d",))


# ---------------------------------------------------------------- bad directives
NO_CLASS_NAMES = re.compile(r"\b[A-Z][a-z]+(Error|Exception)\b|invalid literal|Traceback")


def test_bad_options_are_all_reported_at_once() -> None:
    argv = ["submit", "a.sh", "-d", "cpus=0", "-d", "nodes=four", "-d", "time_limit=soon"]
    argv += ["-d", "memory=lots", "-d", "queue=a b", "-d", "walltime=1", "-d", "account=-x"]
    argv += ["-d", "partition=p", "--raw", "#SBATCH --a\n#SBATCH --uid=0", "-d", "nothing"]
    with pytest.raises(UsageError) as info:
        submit_items(parser().parse_args(argv), SLURM)
    text = str(info.value)
    assert text.startswith("10 problems in the jobs to submit; nothing was submitted:")
    for expected in (
        "--directive cpus: must be at least 1, got 0",
        "--directive nodes: must be an integer of at least 1, got the string 'four'",
        "--directive time_limit: cannot read 'soon' as a duration",
        "--directive memory: cannot read 'lots' as a memory size",
        "--directive queue: 'a b' is not one plain word",
        "--directive walltime: unknown directive (known: account, cpus, job_name, memory",
        "--directive account: '-x' must not start with '-'",
        "--directive partition: give queue or partition, not both",
        "--raw: line 1 '#SBATCH --a\\n#SBATCH --uid=0' holds a newline",
        "--directive 'nothing': expected KEY=VALUE",
    ):
        assert expected in text, (expected, text)
    assert not NO_CLASS_NAMES.search(text)


def test_bad_jobs_lines_are_all_reported_naming_line_job_and_key(tmp_path: Path) -> None:
    jobs = tmp_path / "jobs.jsonl"
    lines = [
        {"script": "a.sh", "name": "fine", "directives": {"memory": "1G"}},
        {"script": "b.sh", "name": "b", "directives": {"memory_mb": 5, "cpus": "4", "raw": "x"}},
        {"script": "c.sh", "envv": {}, "env": {"A-B": "1", "C": 2}},
        {"name": "noscript", "directives": ["cpus"]},
    ]
    jobs.write_text("\n".join([*map(json.dumps, lines), "{not json", "[1]"]) + "\n")
    with pytest.raises(UsageError) as info:
        submit_items(parser().parse_args(["submit", "--jobs", str(jobs)]), SLURM)
    text = str(info.value)
    where = f"--jobs {jobs}"
    for expected in (
        f"{where} line 2 (job 'b'): directive memory_mb: unknown directive: write 'memory'",
        f"{where} line 2 (job 'b'): directive cpus: must be an integer of at least 1, got the st",
        f"{where} line 2 (job 'b'): directive raw: must be a list of lines, got the string 'x'",
        f"{where} line 3 (job 'c.sh'): unknown key 'envv' (known: script, name, directives, env)",
        f"{where} line 3 (job 'c.sh'): env: 'A-B' is not a variable name",
        f"{where} line 3 (job 'c.sh'): env C: must be a string, got int",
        f"{where} line 4 (job 'noscript'): script: required",
        f"{where} line 4 (job 'noscript'): directives: must be an object",
        f"{where} line 5: not JSON: Expecting property name enclosed in double quotes (column 2)",
        f"{where} line 6: must be a JSON object",
    ):
        assert expected in text, (expected, text)
    assert "line 1 " not in text and text.startswith("10 problems")
    assert not NO_CLASS_NAMES.search(text)


def test_bad_toml_directives_are_listed_together(tmp_path: Path) -> None:
    config = tmp_path / "platforms.toml"
    config.write_text('[platforms.x]\ndirectives = { cpus = 0, memory = "lots", walltime = 5 }\n')
    with pytest.raises(ConfigError) as info:
        load_config(config)
    assert (info.value.platform, info.value.key) == ("x", "directives")
    for key in ("cpus: must be at least 1", "memory: cannot read 'lots'", "walltime: unknown"):
        assert key in info.value.problem


def test_library_items_and_runners_are_checked_by_the_controller() -> None:
    items = [
        SubmitItem(Path("a.sh"), "a", {"cpus": 0, "nodes": 2}),
        SubmitItem(Path("b.sh"), "b", Directives(queue="x y"), source="--jobs f line 9"),
        SubmitItem(Path("c.sh"), "c", {"time_limit": "1h"}),
    ]
    _, problems = settle(Platform(name="big", runner="lsf"), items)
    assert problems == [
        "job 'a' (a.sh): directive cpus: must be at least 1, got 0",
        "job 'a' (a.sh): directive nodes: lsf: LSF has no portable node count; "
        "use a raw -R directive",
        "job 'b' (--jobs f line 9): directive queue: 'x y' is not one plain word "
        "(letters, digits and _ . , : @ % + = / -)",
    ]
    _, problems = settle(
        Platform(name="ge", runner="sge", directives=Directives(nodes=2)), items[2:]
    )
    assert problems == [
        "job 'c' (c.sh): directive nodes: sge: Grid Engine has no node count; "
        "use a raw -pe directive"
    ]


def test_the_agent_checks_the_wire_by_the_same_schema() -> None:
    with pytest.raises(DirectiveError) as info:
        agent_directives({"memory": "1G", "cpus": 0, "raw": ["a\nb"]})
    assert [p.key for p in info.value.problems] == ["memory", "cpus", "raw"]
    with pytest.raises(DirectiveError):
        read_directives({"memory_mb": 5})  # the wire's name is not the users'


# ------------------------------------------------ the real CLI, end to end
def recorder(tmp: Path) -> tuple[Path, Path]:
    """A stand-in for ssh and rsync that only records that it was called."""
    marker = tmp / "contacted"
    tool = tmp / "record-contact"
    tool.write_text(f'#!/bin/sh\necho "$@" >> "{marker}"\nexit 255\n')
    tool.chmod(0o755)
    return tool, marker


def test_every_directive_through_the_cli_runs_and_bad_ones_contact_no_host(
    tmp_path: Path,
) -> None:
    tool, marker = recorder(tmp_path)
    far = (
        '[platforms.far]\ntransport = "ssh"\nhosts = ["far.invalid"]\n'
        f'ssh_command = ["{tool}"]\nrsync_command = ["{tool}"]\n'
        f'[platforms.farlsf]\ntransport = "ssh"\nhosts = ["far.invalid"]\nrunner = "lsf"\n'
        f'ssh_command = ["{tool}"]\nrsync_command = ["{tool}"]\n'
    )
    cli: Cli = local_cli(tmp_path, far)
    script = tmp_path / "hello.sh"
    script.write_text("#!/bin/bash\necho hello\n")
    every = {case[0]: case[2] for case in CASES if case[0] != "partition"}
    jobs = tmp_path / "jobs.jsonl"
    jobs.write_text(
        json.dumps({"script": str(script), "name": "j1", "directives": every})
        + "\n"
        + json.dumps({"script": str(script), "name": "j2", "directives": {"partition": "p"}})
        + "\n"
    )
    options = [
        arg
        for key, case_text, *_ in CASES
        if key not in ("raw", "partition")
        for arg in ("-d", f"{key}={case_text}")
    ]
    done = cli.json(
        "submit", "--wait", "--timeout", "120", str(script), *options, "--raw", "# raw line",
        "--jobs", str(jobs),
    )  # fmt: skip
    assert [(j["name"], j["state"]) for j in done] == [
        ("hello.sh", "succeeded"),
        ("j1", "succeeded"),
        ("j2", "succeeded"),
    ]
    job_file = (cli.job_dir(done[0]) / "job").read_text()
    assert "export JOBRELAY_TIME_LIMIT=172800\n" in job_file and "\n# raw line\n" in job_file

    bad_jobs = tmp_path / "bad.jsonl"
    bad_jobs.write_text(json.dumps({"script": str(script), "directives": {"cpus": 0}}) + "\n")
    bad = cli.run(
        "submit", "--platform", "far", str(script), "-d", "cpus=four", "-d", "memory=lots",
        "--jobs", str(bad_jobs), check=False,
    )  # fmt: skip
    assert bad.returncode == 2, bad
    assert "--directive cpus: must be an integer of at least 1, got the string 'four'" in bad.stderr
    assert "--directive memory: cannot read 'lots' as a memory size" in bad.stderr
    assert (
        f"--jobs {bad_jobs} line 1 (job 'hello.sh'): directive cpus: must be at least 1"
        in bad.stderr
    )
    assert not NO_CLASS_NAMES.search(bad.stderr)
    lsf = cli.run("submit", "--platform", "farlsf", str(script), "-d", "nodes=2", check=False)
    assert lsf.returncode == 2, lsf
    assert "job 'hello.sh' (SCRIPT " in lsf.stderr and "directive nodes: lsf:" in lsf.stderr
    assert not marker.exists()  # no host was contacted
    assert [j["name"] for j in cli.json("list")] == ["hello.sh", "j1", "j2"]  # nothing recorded
