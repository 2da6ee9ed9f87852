"""The benchmark commands run (tiny sizes; figures are not checked: no timed assertions)."""

from __future__ import annotations

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
