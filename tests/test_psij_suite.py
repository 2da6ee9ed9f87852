"""PSI/J's own test suite, unchanged, against jobrelay's PSI/J executor.

Run as PSI/J's Makefile runs it (``PYTHONPATH=<src>:tests/plugins1:tests/plugins2
pytest tests --executors=...``; ../shared/peers/README.md), once for each of
two jobrelay platforms: ``localhost`` (background runner) and ``slurm`` (the
real test cluster rjtest, local transport: PSI/J's tests read the jobs'
output files where they run, so the job host must share their home). The
two runs go at once, each with its own home, ledger and report: their tests
mostly wait for jobs, so the waits overlap. A test that takes no executor
runs in both and must pass in both.

Every test must pass except the ones listed in ``NOT_APPLICABLE`` (PSI/J
skips them itself for a single-process launcher: a new skip fails this
test) and ``DESELECTED`` (cannot apply here, with the reason; docs/psij.md).
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from subprocess import STDOUT, Popen

from conftest import ROOT, Infra, require, require_that

PEERS = ROOT.parent.parent / "shared" / "peers" / "psij-python-0.9.11"
if not PEERS.is_dir():  # worktrees live two levels down; the main checkout one
    PEERS = ROOT.parent / "shared" / "peers" / "psij-python-0.9.11"
PLATFORMS = ("localhost", "slurm")

#: test -> the skip reason PSI/J gives for a single-process launcher
NOT_APPLICABLE = {
    "test_mpi.py::test_basic_mpi": "This test requires mpirun",
    "test_nodefile.py::test_nodefile": "This test does not work with the single launcher",
    "test_resources.py::test_nodes": "Unsupported executor/launcher combination",
}
#: PSI/J test id -> why it cannot apply here (not run: it would wait for ever)
DESELECTED = {
    "user_guide/test_resourcespec.py::test_user_guide_resourcespec[jobrelay:single:slurm]": (
        "asks for 2 nodes; the test cluster has one, so Slurm keeps the job pending"
        " (PartitionNodeLimit) and the test's wait has no timeout"
    ),
}
#: executor tests that must have run and passed on every platform (so this cannot pass empty)
MUST_PASS = (
    "test_executor.py::test_simple_job",
    "test_executor.py::test_simple_job_redirect",
    "test_executor.py::test_stderr_redirect",
    "test_executor.py::test_attach",
    "test_executor.py::test_attach2",
    "test_executor.py::test_cancel",
    "test_executor.py::test_failing_job",
    "test_executor.py::test_missing_executable",
    "test_executor.py::test_parallel_jobs",
    "test_executor.py::test_env_var",
    "test_executor.py::test_stdin_redirect",
    "test_executor.py::test_list",
    "test_issue_435.py::test_issue_435",
    "test_resources.py::test_memory",
)


def _config(tmp: Path, infra: Infra) -> Path:
    config = tmp / "platforms.toml"
    config.write_text(
        f'[platforms.localhost]\nrun_root = "{tmp / "run-local"}"\n\n'
        "[platforms.slurm]\n"
        'hosts = ["localhost"]\ntransport = "local"\nrunner = "slurm"\n'
        f'install_target = "localhost"\nrun_root = "{tmp / "run-slurm"}"\n'
        # the default budget (6 squeue a minute, for a shared production cluster) makes
        # each job's news wait up to 10 s: one a second is still a budget, and the PSI/J
        # tests are about the executor (tests/test_budget_slurm.py tests the budget)
        'runner_queries = "1/s"\n'
    )
    return config


def _node_memory_mb(infra: Infra) -> int:
    env = {**os.environ, "SLURM_CONF": str(infra.data["slurm"]["conf"])}
    done = subprocess.run(
        ["sinfo", "-h", "-N", "-o", "%m"], env=env, capture_output=True, text=True, check=False
    )
    sizes = [int(w) for w in done.stdout.split() if w.isdigit()]
    return min(sizes, default=0)


def _outcomes(report: Path) -> dict[str, tuple[str, str]]:
    """junit XML -> {'file.py::test[params]': (passed|failed|skipped, message)}."""
    found = {}
    for case in ET.parse(report).getroot().iter("testcase"):
        module = case.get("classname", "").replace(".", "/")
        module = module.split("/TestCallbacks")[0]
        name = f"{module}.py::{case.get('name')}"
        outcome, message = "passed", ""
        for tag in ("failure", "error", "skipped"):
            child = case.find(tag)
            if child is not None:
                outcome = "skipped" if tag == "skipped" else "failed"
                message = child.get("message", "")
        found[name] = (outcome, message)
    return found


#: the worse of two outcomes of one test id (a test that takes no executor runs in both)
RANK = {"passed": 0, "skipped": 1, "failed": 2}


def _start(tmp: Path, infra: Infra, config: Path, platform: str) -> tuple[Popen[str], Path, Path]:
    """PSI/J's suite for one platform, started: (its process, its report, its output)."""
    mine = tmp / platform
    home = mine / "home"
    cwd = mine / "cwd"  # PSI/J's conftest writes tests/results below it
    home.mkdir(parents=True)
    cwd.mkdir()
    tests = PEERS / "tests"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JOBRELAY_", "PYTEST"))}
    env.update(
        HOME=str(home),  # PSI/J's tests write under ~/.psij/test
        JOBRELAY_HOME=str(mine / "jobrelay"),
        JOBRELAY_CONFIG=str(config),
        SLURM_CONF=str(infra.data["slurm"]["conf"]),
        PYTHONPATH=os.pathsep.join(
            [str(ROOT / "src"), str(tests / "plugins1"), str(tests / "plugins2")]
        ),
    )
    report = mine / "psij.xml"
    output = mine / "output.txt"
    argv = [
        sys.executable,
        "-m",
        "pytest",
        str(tests),
        f"--executors=jobrelay:single:{platform}",
        "-p",
        "no:cacheprovider",
        "-q",
        f"--junitxml={report}",
        *(f"--deselect={test}" for test in DESELECTED),  # ids relative to tests/, the rootdir
    ]
    with output.open("w") as out:
        proc = Popen(argv, cwd=cwd, env=env, stdout=out, stderr=STDOUT, text=True)
    return proc, report, output


def test_psij_suite_passes_on_localhost_and_slurm(tmp_path: Path, infra: Infra) -> None:
    require_that(
        importlib.util.find_spec("psij") is not None,
        "psij-python is not installed (pip install -e '.[test]')",
    )
    require_that(PEERS.is_dir(), f"PSI/J's suite is not at {PEERS}")
    require(infra, "slurm")
    require_that(
        _node_memory_mb(infra) >= 100,
        "the Slurm node declares no memory (RealMemory): test_memory's --mem=100M cannot be"
        " satisfied; run tests/infra/up.sh from this tree",
    )
    config = _config(tmp_path, infra)
    runs = [_start(tmp_path, infra, config, platform) for platform in PLATFORMS]
    try:
        returncodes = [proc.wait(timeout=900) for proc, _, _ in runs]
    finally:
        for proc, _, _ in runs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    outcomes: dict[str, tuple[str, str]] = {}
    for _, report, output in runs:
        assert report.exists(), f"PSI/J's suite did not run:\n{output.read_text()[-6000:]}"
        for name, (outcome, message) in _outcomes(report).items():
            if RANK[outcome] >= RANK[outcomes.get(name, ("passed", ""))[0]]:
                outcomes[name] = (outcome, message)
    tail = "\n".join(output.read_text()[-6000:] for _, _, output in runs)
    failed = {k: m for k, (o, m) in outcomes.items() if o == "failed"}
    assert not failed, f"PSI/J tests failed: {failed}\n{tail}"
    for test in NOT_APPLICABLE:
        for platform in PLATFORMS:
            assert outcomes.get(f"{test}[jobrelay:single:{platform}]", ("", ""))[0] == "skipped"
    skipped = {k: m for k, (o, m) in outcomes.items() if o == "skipped"}
    unexpected = {
        k: m for k, m in skipped.items() if not any(m == r for r in NOT_APPLICABLE.values())
    }
    assert not unexpected, f"PSI/J skipped tests that should apply: {unexpected}"
    for test in MUST_PASS:
        for platform in PLATFORMS:
            name = f"{test}[jobrelay:single:{platform}]"
            assert outcomes.get(name, ("missing", ""))[0] == "passed", name
    assert returncodes == [0] * len(runs), tail
