"""The benchmark commands run (tiny sizes; figures are not checked: no timed assertions)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_issue3_bench_runs_small() -> None:
    proc = subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / "issue3.py"),
            "--jobs",
            "4",
            "--repeat",
            "1",
            "--starts",
            "2",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    for row in ("agent cold start", "wrapper CPU overhead per job", "makespan 4 jobs, CLI"):
        assert row in proc.stdout, proc.stdout


def test_scale_bench_runs_small() -> None:
    """bench/scale.py on five local platforms (its ssh hosts and Cylc need the
    test infrastructure and the peers: bench/compare runs those)."""
    proc = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "scale.py"), "--jobs", "50", "--local-only"],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PYTHONPATH": str(ROOT / "src")},
    )
    assert proc.returncode == 0, proc.stderr
    for row in ("full poll cycle, warm", "Controller.poll of 1000 jobs", "resident memory"):
        assert row in proc.stdout, proc.stdout
