"""A new runner is one declarative module: OAR, as a plugin of under 150 lines.

``tests/runner_plugins/oar_runner.py`` fills in only OAR's formats, its
command lines and the parsers of their output, written against OAR 2.5's
documented output (oarsub(1), oarstat(1), oardel(1):
https://oar.imag.fr/docs/latest/user/commands/). Everything else, the safety
of directive lines included, is jobrelay's ``BatchRunner``.

No OAR server runs here: ``oarsub``, ``oarstat`` and ``oardel`` are small
executable scripts put first on PATH (``tests/runner_plugins/oar_emulator.py``)
that answer with the documented output and really run the jobs. The plugin is
installed as a wheel (entry point group ``jobrelay.runners``) and driven by
the real CLI and the real agent: submit, poll, kill.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from cli_harness import local_cli
from test_runner_plugins import PluginCli, make_wheel

from jobrelay.processes import CommandResult
from jobrelay.runners.base import Directives, RunnerState

PLUGINS = Path(__file__).resolve().parent / "runner_plugins"
PLUGIN = PLUGINS / "oar_runner.py"


def load_plugin() -> ModuleType:
    spec = importlib.util.spec_from_file_location("oar_runner_under_test", PLUGIN)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


OAR = load_plugin()


def test_the_plugin_is_one_short_declarative_module() -> None:
    lines = PLUGIN.read_text().splitlines()
    assert len(lines) < 150, len(lines)
    assert not any(line.lstrip().startswith("def header_lines") for line in lines)
    assert not any(line.lstrip().startswith("def format_value") for line in lines)


# ------------------------------------- the base's safety, for a plugin that does nothing special
def test_directive_lines_of_a_plugin_are_checked_by_the_base() -> None:
    runner = OAR.OarRunner()
    lines = runner.header_lines(
        Directives(
            90, 2, 2, None, "default", "proj", 'x"; $(id)\n#OAR -l nodes=99', ("#OAR -t x",)
        ),
        "/home/u/run/1/job",
    )
    assert lines == [
        "#OAR -O /home/u/run/1/job/job.out",
        "#OAR -E /home/u/run/1/job/job.err",
        "#OAR -l nodes=2/core=2,walltime=0:01:30",
        "#OAR -q default",
        "#OAR --project proj",
        "#OAR -n x_id_OAR_-l_nodes_99",
        "#OAR -t x",
    ]
    for bad in (
        Directives(queue="default\n#OAR -l nodes=99"),
        Directives(account="a b"),
        Directives(raw=("#OAR -q a\n#OAR -l nodes=99",)),
        Directives(cpus=0),
        Directives(memory_mb=1024),  # no portable OAR form: refused, not dropped
    ):
        with pytest.raises(ValueError):
            runner.header_lines(bad, "/d")
    with pytest.raises(ValueError):
        runner.header_lines(Directives(), "/d with space")


def test_a_plugin_that_writes_values_as_is_still_cannot_inject() -> None:
    class Careless(OAR.OarRunner):  # type: ignore[misc,name-defined]
        def format_value(self, key: str, value: object) -> str:
            return str(value)  # no quoting, no checks of its own

    for bad in (Directives(queue="q\n#OAR -l nodes=99"), Directives(account="p --hold")):
        with pytest.raises(ValueError):
            Careless().header_lines(bad, "/d")


# ------------------------------------------------ parsers, on the documented output
def result(stdout: str, stderr: str = "", rc: int = 0) -> CommandResult:
    return CommandResult(("cmd",), rc, stdout, stderr)


def test_oarstat_and_oardel_documented_output_no_server_here() -> None:
    runner = OAR.OarRunner()
    assert runner.poll_command(["12", "13"]) == ["oarstat", "-s", "-j", "12", "-j", "13"]
    answer = runner.parse_poll(
        result("14: Hold\n12: Running\n15: Terminated\n"), ["12", "13", "14", "15"]
    )
    states = {i: info.state for i, info in answer.jobs.items()}
    assert states == {
        "12": RunnerState.RUNNING,
        "13": RunnerState.GONE,
        "14": RunnerState.PENDING,
        "15": RunnerState.DONE,
    }
    assert runner.parse_poll(result("", "DB connection error, exiting.\n", 255), ["12"]).error
    out = "Deleting the job = 12 ...REGISTERED.\nDeleting the job = 13 ...ERROR.\n"
    err = "Cannot frag 13 ; This job was already killed.\n"
    kills = runner.parse_kill(
        ["12", "13", "14"],
        result(
            out + "Deleting the job = 14 ...ERROR.\n",
            err + "Cannot frag 14 ; You are not the right user.\n",
            1,
        ),
    )
    assert [(k.ok, k.detail) for k in kills][:2] == [(True, "cancelled"), (True, "already gone")]
    assert not kills[2].ok
    assert (
        runner.parse_submit("[ADMISSION RULE] Set default walltime to 7200.\nOAR_JOB_ID=4924\n")
        == "4924"
    )


# ------------------------------------------------ through the real CLI and agent
@pytest.fixture(scope="module")
def oar_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("oar")
    wheel = make_wheel(root, "rjoar", "oar", "OarRunner", PLUGIN.read_text())
    pip = [sys.executable, "-m", "pip", "install", "--quiet", "--no-index", "--no-deps"]
    subprocess.run(
        [*pip, "--target", str(root / "site"), str(wheel)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    bin_dir = root / "bin"
    bin_dir.mkdir()
    for command in ("oarsub", "oarstat", "oardel"):
        script = bin_dir / command
        script.write_text(
            f'#!/bin/sh\nexec "{sys.executable}" "{PLUGINS / "oar_emulator.py"}" {command} "$@"\n'
        )
        script.chmod(0o755)
    return root


class OarCli(PluginCli):
    def env(self) -> dict[str, str]:
        env = super().env()
        env["PATH"] = f"{self.plugins.parent / 'bin'}:{env['PATH']}"
        env["OAR_EMULATOR_STATE"] = str(self.home.parent / "oar-state")
        return env


def oar_cli(tmp: Path, site: Path) -> OarCli:
    base = local_cli(tmp, 'runner = "oar"\n')
    cli = OarCli(base.home, base.config, base.run_root)
    cli.plugins = site / "site"
    (tmp / "oar-state").mkdir()
    return cli


def until(cli: OarCli, refs: list[str], wanted: set[str]) -> list[dict[str, Any]]:
    """Poll (bounded) until every job's state is in ``wanted``."""
    for _ in range(100):
        jobs = cli.json("poll", *refs)
        if all(job["state"] in wanted for job in jobs):
            return jobs
        subprocess.run(["sleep", "0.2"], check=True)
    raise AssertionError(f"not {wanted}: {jobs}")


def test_submit_poll_kill_through_the_agent(oar_site: Path, tmp_path: Path) -> None:
    cli = oar_cli(tmp_path, oar_site)
    quick, slow = tmp_path / "quick.sh", tmp_path / "slow.sh"
    quick.write_text('#!/bin/bash\necho "quick ran: $((6 * 7))"\n')
    slow.write_text("#!/bin/bash\nsleep 300\n")
    spec = [
        {
            "script": str(quick),
            "name": "quick",
            "directives": {
                "cpus": 2,
                "time_limit": "90s",
                "queue": "default",
                "account": "proj",
                "job_name": "quick; $(rm -rf ~)",
            },
        },
        {"script": str(slow), "name": "slow", "directives": {"nodes": 2, "time_limit": 600}},
        {"script": str(slow), "name": "held", "directives": {"raw": ["#OAR --hold"]}},
    ]
    jobs_file = tmp_path / "jobs.jsonl"
    jobs_file.write_text("".join(json.dumps(line) + "\n" for line in spec))
    submitted = cli.json("submit", "--jobs", str(jobs_file))
    assert [(j["name"], j["state"], j["runner"]) for j in submitted] == [
        ("quick", "submitted", "oar"),
        ("slow", "submitted", "oar"),
        ("held", "submitted", "oar"),
    ]
    assert sorted(j["runner_id"] for j in submitted) == ["1", "2", "3"]
    refs = {j["name"]: j["job"] for j in submitted}
    header = [
        ln
        for ln in (cli.job_dir(submitted[0]) / "job").read_text().splitlines()
        if ln.startswith("#OAR")
    ]
    assert header[2:] == [
        "#OAR -l nodes=1/core=2,walltime=0:01:30",
        "#OAR -q default",
        "#OAR --project proj",
        "#OAR -n quick_rm_-rf",
    ]

    (done,) = until(cli, [refs["quick"]], {"succeeded", "failed", "lost"})
    assert (done["state"], done["exit_code"]) == ("succeeded", 0)
    assert (cli.job_dir(done) / "job.out").read_text() == "quick ran: 42\n"  # -O honoured
    until(cli, [refs["slow"]], {"running"})

    cli.run("kill", refs["slow"], refs["held"])
    final = {
        j["name"]: j
        for j in until(cli, [refs["slow"], refs["held"]], {"killed", "failed", "lost", "succeeded"})
    }
    assert final["slow"]["state"] == "killed" and final["slow"]["exit_signal"] == "TERM"
    assert final["held"]["state"] == "killed"
    held_status = (cli.job_dir(final["held"]) / "job.status").read_text()
    assert "JOB_START_TIME" not in held_status  # it never ran


def test_a_directive_the_plugin_has_no_form_for_is_refused_before_submitting(
    oar_site: Path, tmp_path: Path
) -> None:
    cli = oar_cli(tmp_path, oar_site)
    script = tmp_path / "x.sh"
    script.write_text("#!/bin/bash\ntrue\n")
    proc = cli.run("submit", str(script), "-d", "memory=1G", "-d", "cpus=0", check=False)
    assert proc.returncode == 2, proc
    assert "directive memory: oar: OAR has no portable memory request" in proc.stderr
    assert "--directive cpus: must be at least 1, got 0" in proc.stderr
    assert cli.json("list") == []
    assert list((tmp_path / "oar-state").iterdir()) == []  # oarsub never ran
