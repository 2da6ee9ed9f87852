"""Runner plugins, for real: two tiny packages (wheels) installed by pip
(``pip install --target``), found through the entry point group
``jobrelay.runners`` by the real CLI and the real agent.

- ``rjplug`` provides runner ``plugbg``: the background runner plus one
  header line, so the job's own output proves the plugin ran it.
- ``rjbroken`` provides runner ``brokenrun`` whose module fails to import:
  ``jobrelay submit`` must refuse, naming the plugin and why.
"""

from __future__ import annotations

import base64
import hashlib
import os
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest
from cli_harness import Cli, local_cli

GOOD = '''\
"""A plugin runner: background, plus a line the job can see."""
from jobrelay.runners.background import BackgroundRunner


class PlugRunner(BackgroundRunner):
    name = "plugbg"

    def header_lines(self, directives, job_dir):
        return ["export RJ_PLUGIN_RAN=plugbg", *super().header_lines(directives, job_dir)]
'''

BROKEN = """\
import rjbroken_missing_dependency  # noqa: F401  (not installed: the load fails)


class BrokenRunner:
    name = "brokenrun"
"""


def make_wheel(root: Path, name: str, runner: str, cls: str, code: str) -> Path:
    """A pure-Python wheel, written by hand: the build backend (setuptools +
    wheel) is not installed here and the tests get no network."""
    dist = f"{name}-0.1.dist-info"
    files = {
        f"{name}/__init__.py": "",
        f"{name}/runner.py": code,
        f"{dist}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1\n",
        f"{dist}/WHEEL": "Wheel-Version: 1.0\nGenerator: jobrelay-tests\n"
        "Root-Is-Purelib: true\nTag: py3-none-any\n",
        f"{dist}/entry_points.txt": f"[jobrelay.runners]\n{runner} = {name}.runner:{cls}\n",
    }
    record = [f"{path},sha256={_digest(text)},{len(text.encode())}" for path, text in files.items()]
    files[f"{dist}/RECORD"] = "\n".join([*record, f"{dist}/RECORD,,"]) + "\n"
    wheel = root / f"{name}-0.1-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        for path, text in files.items():
            zf.writestr(path, text)
    return wheel


def _digest(text: str) -> str:
    raw = hashlib.sha256(text.encode()).digest()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


@pytest.fixture(scope="module")
def plugin_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("plugins")
    target = root / "site"
    wheels = [
        make_wheel(root, "rjplug", "plugbg", "PlugRunner", GOOD),
        make_wheel(root, "rjbroken", "brokenrun", "BrokenRunner", BROKEN),
    ]
    pip = [sys.executable, "-m", "pip", "install", "--quiet", "--no-index", "--no-deps"]
    subprocess.run(
        [*pip, "--target", str(target), *map(str, wheels)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    assert (target / "rjplug-0.1.dist-info" / "entry_points.txt").is_file()
    assert (target / "rjbroken" / "runner.py").is_file()
    return target


class PluginCli(Cli):
    plugins: Path = Path()

    def env(self) -> dict[str, str]:
        env = super().env()
        env["PYTHONPATH"] = env["PYTHONPATH"] + os.pathsep + str(self.plugins)
        return env


def cli_with(tmp: Path, plugins: Path, runner: str) -> PluginCli:
    base = local_cli(tmp, f'runner = "{runner}"\n')
    cli = PluginCli(base.home, base.config, base.run_root)
    cli.plugins = plugins
    return cli


def test_submit_runs_the_job_with_the_installed_plugin(plugin_dir: Path, tmp_path: Path) -> None:
    cli = cli_with(tmp_path, plugin_dir, "plugbg")
    script = tmp_path / "show.sh"
    script.write_text(textwrap.dedent('#!/bin/bash\necho "ran by $RJ_PLUGIN_RAN"\n'))
    (job,) = cli.json("submit", "--wait", "--timeout", "120", str(script))
    assert (job["state"], job["runner"], job["exit_code"]) == ("succeeded", "plugbg", 0)
    job_dir = cli.job_dir(job)
    assert (job_dir / "job.out").read_text() == "ran by plugbg\n"
    assert "JOB_RUNNER_NAME=plugbg\n" in (job_dir / "job.status").read_text()


def test_a_plugin_that_fails_to_load_is_named_in_the_error(
    plugin_dir: Path, tmp_path: Path
) -> None:
    cli = cli_with(tmp_path, plugin_dir, "brokenrun")
    script = tmp_path / "x.sh"
    script.write_text("#!/bin/bash\ntrue\n")
    proc = cli.run("submit", str(script), check=False)
    assert proc.returncode not in (0, 1), proc  # refused as a whole, not a job failure
    assert "'brokenrun'" in proc.stderr and "rjbroken.runner:BrokenRunner" in proc.stderr
    assert "failed to load" in proc.stderr and "rjbroken_missing_dependency" in proc.stderr
    # nothing was recorded as submitted: the ledger has no job
    assert cli.json("list") == []


def test_an_unknown_runner_says_which_exist(plugin_dir: Path, tmp_path: Path) -> None:
    cli = cli_with(tmp_path, plugin_dir, "nosuchrunner")
    script = tmp_path / "x.sh"
    script.write_text("#!/bin/bash\ntrue\n")
    proc = cli.run("submit", str(script), check=False)
    assert "unknown runner 'nosuchrunner'" in proc.stderr and "slurm" in proc.stderr
