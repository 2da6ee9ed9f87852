"""The agent zipapp: deterministic, named by its content, built once per code change."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from jobrelay import __version__
from jobrelay.zipapps import agent_bytes, build_agent


def test_same_code_same_bytes_and_name(tmp_path: Path) -> None:
    assert agent_bytes() == agent_bytes()
    first = build_agent(tmp_path / "a")
    second = build_agent(tmp_path / "b")
    assert first.name == second.name and first.name.startswith(f"agent-{__version__}-")
    assert first.read_bytes() == second.read_bytes()


def test_the_build_is_remembered_and_redone_when_needed(tmp_path: Path) -> None:
    path = build_agent(tmp_path)
    memo = tmp_path / "built.json"
    stamp = path.stat().st_mtime_ns
    assert build_agent(tmp_path) == path and path.stat().st_mtime_ns == stamp  # not rewritten
    path.unlink()  # the file went missing: built again, same name
    assert build_agent(tmp_path) == path and path.is_file()
    memo.write_text(json.dumps({"name": path.name, "fingerprint": "old code"}))
    assert build_agent(tmp_path) == path  # a stale memo means a rebuild, same bytes
    assert json.loads(memo.read_text())["fingerprint"] != "old code"


def test_the_zipapp_runs_with_no_site_packages(tmp_path: Path) -> None:
    path = build_agent(tmp_path)
    out = subprocess.run(
        [sys.executable, "-S", "-E", str(path), "--version"],
        capture_output=True,
        text=True,
        check=True,
        cwd=tmp_path,
    )
    assert out.stdout.strip() == __version__


def test_a_poll_of_background_jobs_imports_none_of_the_costly_modules(tmp_path: Path) -> None:
    """The agent's start is most of a one-shot poll: typing, dataclasses (and what
    it drags in: inspect, ast) and subprocess are kept off the poll path. Counted
    from -X importtime (modules, not milliseconds: no timed assertion)."""
    agent = build_agent(tmp_path / "agent")
    job_dir = tmp_path / "run" / "r" / "jobs" / "1-x"
    job_dir.mkdir(parents=True)
    (job_dir / "job.status").write_text(
        "JOB_RUNNER_NAME=background\nJOB_RUNNER_ID=1:1\nJOB_PID=1\nJOB_START_TIME=t\n"
    )
    request = {"v": 1, "verb": "poll", "run_root": str(tmp_path / "run")}
    request["jobs"] = [{"job": "r/1", "dir": "r/jobs/1-x"}]  # type: ignore[assignment]
    proc = subprocess.run(
        ["/usr/bin/python3", "-S", "-X", "importtime", str(agent)],
        input=json.dumps(request),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0 and '"end":true' in proc.stdout, proc.stderr[-500:]
    imported = {
        line.rsplit("|", 1)[1].strip()
        for line in proc.stderr.splitlines()
        if line.startswith("import time:") and "|" in line
    }
    assert "jobrelay.engine.verbs" in imported  # the listing is real
    assert not imported & {"typing", "dataclasses", "inspect", "ast", "subprocess"}, imported
