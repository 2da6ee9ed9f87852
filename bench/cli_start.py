"""Cold start of one-shot CLI commands: jobrelay beside troika, in one run.

ecFlow starts one process per task submit, kill and status, so the start of
``jobrelay submit``/``status``/``list`` is paid per task. Each row is the
median wall time of ``--starts`` runs of the command (process start to exit,
output discarded), on the embedded ``localhost`` platform (background
runner, local transport) and troika's ``direct`` site with a local
connection. The interpreter start (`python3 -c pass`, same interpreter as
jobrelay's) is the yardstick.

    python3 bench/cli_start.py --starts 30        # troika from bench/setup_peers.sh
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

TROIKA = (
    Path(os.environ.get("JOBRELAY_BENCH_PEERS", "/opt/jobrelay-bench")) / "troika-venv/bin/troika"
)
LEDGER_JOBS = 300  # jobs in the ledger `list` reads (a day of a small suite)


def user_env(**extra: str) -> dict[str, str]:
    """The environment of a user's shell: bytecode cached as an installed
    package has it (this sandbox sets PYTHONDONTWRITEBYTECODE)."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env.update(extra)
    return env


def timed(argv: list[str], env: dict[str, str], starts: int, check: Callable[[int], bool]) -> float:
    """Median seconds of ``starts`` runs; every run's exit status must pass ``check``."""
    times = []
    subprocess.run(argv, env=env, capture_output=True, check=False)  # warm: caches, bytecode
    for _ in range(starts):
        t0 = time.perf_counter()
        proc = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
        times.append(time.perf_counter() - t0)
        if not check(proc.returncode):
            raise SystemExit(f"{argv} exited {proc.returncode}: {proc.stderr.strip()[-400:]}")
    return statistics.median(times)


def jobrelay_rows(work: Path, starts: int) -> list[tuple[str, float]]:
    home = work / "home"
    env = user_env(JOBRELAY_HOME=str(home), JOBRELAY_CONFIG=str(work / "none.toml"))
    (work / "none.toml").write_text("")
    cli = [sys.executable, "-m", "jobrelay"]
    script = work / "quick.sh"
    script.write_text("#!/bin/bash\ntrue\n")
    sleeper = work / "sleeper.sh"
    sleeper.write_text("#!/bin/bash\nsleep 600\n")
    subprocess.run(
        [*cli, "submit", "--wait", "--run", "bench", str(script)],
        env=env,
        check=True,
        capture_output=True,
    )
    out = subprocess.run(
        [*cli, "submit", "--json", "--run", "bench", str(sleeper)],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    running = json.loads(out.splitlines()[0])["job"]  # one JSON object per line
    filler = [str(script)] * (LEDGER_JOBS - 2)
    subprocess.run(
        [*cli, "submit", "--wait", "--run", "filler", *filler],
        env=env,
        check=True,
        capture_output=True,
    )
    rows = [
        ("`jobrelay --version`", timed([*cli, "--version"], env, starts, lambda rc: rc == 0)),
        (
            f"`jobrelay list --run bench` ({LEDGER_JOBS} jobs in the ledger)",
            timed([*cli, "list", "--run", "bench"], env, starts, lambda rc: rc == 0),
        ),
    ]
    if subprocess.run([*cli, "status", "--help"], env=env, capture_output=True).returncode == 0:
        rows.append(
            (
                "`jobrelay status JOB` (a running background job: one poll)",
                timed([*cli, "status", running], env, starts, lambda rc: rc == 0),
            )
        )
    rows.append(
        (
            "`jobrelay submit SCRIPT` (one background job)",
            timed(
                [*cli, "submit", "--run", "bench", str(script)],
                env,
                max(3, starts // 3),
                lambda rc: rc == 0,
            ),
        )
    )
    subprocess.run([*cli, "kill", running], env=env, capture_output=True)
    return rows


def troika_rows(work: Path, starts: int) -> list[tuple[str, float]]:
    if not TROIKA.exists():
        return []
    config = work / "troika.yml"
    config.write_text(json.dumps({"sites": {"here": {"type": "direct", "connection": "local"}}}))
    job = work / "troika-job.sh"
    job.write_text("#!/bin/bash\nsleep 600\n")
    job.chmod(0o755)  # the direct site runs the job file itself
    base = [str(TROIKA), "-c", str(config)]
    env = user_env()
    subprocess.run(
        [*base, "submit", "-o", str(work / "troika.out"), "here", str(job)],
        env=env,
        check=True,
        capture_output=True,
    )
    rows = [
        ("`troika --help`", timed([*base, "--help"], env, starts, lambda rc: rc == 0)),
        (
            "`troika monitor SITE JOBFILE` (a running job)",
            timed([*base, "monitor", "here", str(job)], env, starts, lambda rc: rc == 0),
        ),
    ]
    quick = work / "troika-quick.sh"
    quick.write_text("#!/bin/bash\ntrue\n")
    quick.chmod(0o755)
    argv = [*base, "submit", "-o", str(work / "quick.out"), "here", str(quick)]
    rows.append(
        (
            "`troika submit -o OUT SITE JOBFILE`",
            timed(argv, env, max(3, starts // 3), lambda rc: rc == 0),
        )
    )
    subprocess.run([*base, "kill", "here", str(job)], env=env, capture_output=True)
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--starts", type=int, default=30, help="runs per command (default 30)")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="jobrelay-cli-start-"))
    try:
        env = user_env()
        bare = timed([sys.executable, "-c", "pass"], env, args.starts, lambda rc: rc == 0)
        bare_s = timed([sys.executable, "-S", "-c", "pass"], env, args.starts, lambda rc: rc == 0)
        rows = jobrelay_rows(work, args.starts) + troika_rows(work, args.starts)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"interpreter: {sys.executable} ({sys.version.split()[0]})")
    print(f"median of {args.starts} starts\n")
    print("| command | median | ratio to `python3 -c pass` |")
    print("|---|---|---|")
    print(f"| `python3 -S -c pass` | {bare_s * 1000:.1f} ms | {bare_s / bare:.2f} |")
    print(f"| `python3 -c pass` | {bare * 1000:.1f} ms | 1.00 |")
    for name, seconds in rows:
        print(f"| {name} | {seconds * 1000:.1f} ms | {seconds / bare:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
