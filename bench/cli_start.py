"""Cold start of one-shot CLI commands: jobrelay beside troika, in one run.

ecFlow starts one process per task submit, kill and status, so the start of
``jobrelay submit``/``status``/``kill`` is paid per task. Each row is the
median wall time of ``--starts`` runs of the command (process start to exit,
output discarded), on the embedded ``localhost`` platform (background
runner, local transport) and troika's ``direct`` site with a local
connection. The kills do not do the same work: jobrelay's returns once the
job's processes are verified gone (SIGTERM, then a wait for the session to
empty), troika's direct site sends SIGTERM to the job's pid and returns.

jobrelay is measured two ways, each against its own interpreter's start
(``python -c pass``) as the yardstick:

* **venv (a user's install)**: a fresh virtualenv made here in the temp dir
  (``python3 -m venv``), jobrelay installed into it by pip from a copy of
  this checkout (``--no-deps``: rich, drawn only by ``watch``, is left out;
  setuptools for the build comes from pip's configured index), run as its
  console script ``jobrelay``, as ecFlow runs it;
* **system interpreter**: ``python3 -m jobrelay`` from ``src/`` with the
  interpreter running this script.

The second is kept because it is what this repository's tests run, but on
the development machine it is not a user's: that interpreter's
site-packages holds a sandbox-only ``_sandboxing_egress_ca.pth`` that
imports ``certifi`` at every start (about 17 ms). Its ``python3 -c pass`` is
inflated by that, and the modules certifi loads (``os.path``, ``re``,
``pathlib``'s company...) are then already there when jobrelay starts, so
jobrelay's own imports look cheaper and its ratio smaller than a user gets.
A virtualenv does not read that site-packages; the venv rows are the figures
to judge the goal by (≤ 60 ms and ≤ 4x ``python -c pass``). troika runs in
its own virtualenv (bench/setup_peers.sh), with that venv's ``python -c
pass`` as its yardstick.

    python3 bench/cli_start.py --starts 30
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
TROIKA = (
    Path(os.environ.get("JOBRELAY_BENCH_PEERS", "/opt/jobrelay-bench")) / "troika-venv/bin/troika"
)
LEDGER_JOBS = 300  # jobs in the ledger `list` reads (a day of a small suite)
GOAL_MS, GOAL_RATIO = 60.0, 4.0  # issue 13 §5, for `list` and `status`


def user_env(**extra: str) -> dict[str, str]:
    """The environment of a user's shell: bytecode cached as an installed
    package has it (this sandbox sets PYTHONDONTWRITEBYTECODE), no PYTHONPATH."""
    drop = ("PYTHONDONTWRITEBYTECODE", "PYTHONPATH")
    env = {k: v for k, v in os.environ.items() if k not in drop}
    env.update(extra)
    return env


# argv, or what makes it before each run (untimed: a kill's job); environment
Run = tuple[list[str] | Callable[[], list[str]], dict[str, str]]


def timed(runs: list[Run], starts: int) -> list[float]:
    """Median seconds of ``starts`` runs of each command; every run must exit 0.
    Round robin (each command once per round), so that a load that comes and
    goes (the machine is shared) weighs on a command and its yardstick alike."""
    times: list[list[float]] = [[] for _ in runs]
    for argv, env in runs:  # warm: caches, bytecode
        if not callable(argv):
            subprocess.run(argv, env=env, capture_output=True, check=False)
    for _ in range(starts):
        for (make, env), seen in zip(runs, times, strict=True):
            argv = make() if callable(make) else make
            t0 = time.perf_counter()
            proc = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
            seen.append(time.perf_counter() - t0)
            if proc.returncode != 0:
                raise SystemExit(f"{argv} exited {proc.returncode}: {proc.stderr.strip()[-400:]}")
    return [statistics.median(seen) for seen in times]


def make_venv(work: Path) -> Path:
    """A fresh virtualenv with jobrelay installed as a user installs it; its python."""
    copy = work / "checkout"
    shutil.copytree(REPO / "src", copy / "src", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, copy / name)
    venv = work / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    pip = [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    subprocess.run(
        [*pip, "--no-deps", str(copy)],
        env=user_env(),
        check=True,
        capture_output=True,
    )
    return python


def sides(work: Path) -> dict[str, tuple[list[str], list[str], dict[str, str]]]:
    """Per way of running jobrelay: its yardstick's python, the command, the environment."""
    state = {"JOBRELAY_HOME": str(work / "home"), "JOBRELAY_CONFIG": str(work / "none.toml")}
    python = make_venv(work)
    return {
        "venv": ([str(python)], [str(python.parent / "jobrelay")], user_env(**state)),
        "system": (
            [sys.executable],
            [sys.executable, "-m", "jobrelay"],
            user_env(PYTHONPATH=str(REPO / "src"), **state),
        ),
    }


def fill_ledger(work: Path, cli: list[str], env: dict[str, str]) -> str:
    """The ledger `list` reads; the reference of a running job for `status`."""
    (work / "none.toml").write_text("")
    script = work / "quick.sh"
    script.write_text("#!/bin/bash\ntrue\n")
    sleeper = work / "sleeper.sh"
    sleeper.write_text("#!/bin/bash\nsleep 600\n")

    def run(*argv: str) -> str:
        return subprocess.run(
            [*cli, *argv], env=env, check=True, capture_output=True, text=True
        ).stdout

    run("submit", "--wait", "--run", "bench", str(script))
    out = run("submit", "--json", "--run", "bench", str(sleeper))
    running: str = json.loads(out.splitlines()[0])["job"]  # one JSON object per line
    run("submit", "--wait", "--run", "filler", *[str(script)] * (LEDGER_JOBS - 2))
    return running


def jobrelay_rows(work: Path, starts: int) -> tuple[list[str], list[list[float]]]:
    """Row names, and per row the seconds of each side (venv, system)."""
    ways = sides(work)
    running = fill_ledger(work, ways["system"][1], ways["system"][2])
    script = str(work / "quick.sh")
    commands = [
        ("`python -S -c pass`", None, ["-S", "-c", "pass"]),
        ("`python -c pass`", None, ["-c", "pass"]),
        ("`jobrelay --version`", ["--version"], None),
        (f"`jobrelay list --run bench` ({LEDGER_JOBS} jobs in the ledger)",
         ["list", "--run", "bench"], None),
        ("`jobrelay status JOB` (a running background job: one poll)", ["status", running], None),
    ]  # fmt: skip
    runs: list[Run] = [
        ([*python, *py_args] if py_args is not None else [*cli, *(args or [])], env)
        for _, args, py_args in commands
        for python, cli, env in ways.values()
    ]
    flat = timed(runs, starts)
    names = [name for name, _, _ in commands]
    seconds = [flat[i : i + len(ways)] for i in range(0, len(flat), len(ways))]
    names.append("`jobrelay submit SCRIPT` (one background job)")
    submits = [([*cli, "submit", "--run", "bench", script], env) for _, cli, env in ways.values()]
    seconds.append(timed(submits, max(3, starts // 3)))
    names.append("`jobrelay kill JOB` (a running background job, verified gone)")
    sleeper = str(work / "sleeper.sh")

    def killer(cli: list[str], env: dict[str, str]) -> Callable[[], list[str]]:
        def prepare() -> list[str]:
            out = subprocess.run(
                [*cli, "submit", "--json", "--run", "kills", sleeper],
                env=env, check=True, capture_output=True, text=True,
            ).stdout  # fmt: skip
            return [*cli, "kill", json.loads(out)["job"]]

        return prepare

    kills = [(killer(cli, env), env) for _, cli, env in ways.values()]
    seconds.append(timed(kills, max(3, starts // 3)))
    _, cli, env = ways["system"]
    subprocess.run([*cli, "kill", running], env=env, capture_output=True)
    return names, seconds


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
    quick = work / "troika-quick.sh"
    quick.write_text("#!/bin/bash\ntrue\n")
    quick.chmod(0o755)
    submit = [*base, "submit", "-o", str(work / "quick.out"), "here", str(quick)]
    bare = [str(TROIKA.parent / "python"), "-c", "pass"]
    monitor = [*base, "monitor", "here", str(job)]
    names = ["`python -c pass` (troika's venv)", "`troika --help`"]
    names.append("`troika monitor SITE JOBFILE` (a running job)")
    seconds = timed([(bare, env), ([*base, "--help"], env), (monitor, env)], starts)
    names.append("`troika submit -o OUT SITE JOBFILE`")
    seconds += timed([(submit, env)], max(3, starts // 3))
    names.append("`troika kill SITE JOBFILE` (a running job)")
    made = [0]

    def prepare() -> list[str]:
        made[0] += 1
        victim = work / f"troika-victim-{made[0]}.sh"
        victim.write_text("#!/bin/bash\nsleep 600\n")
        victim.chmod(0o755)
        out = str(work / f"victim-{made[0]}.out")
        subprocess.run([*base, "submit", "-o", out, "here", str(victim)], env=env, check=True,
                       capture_output=True)  # fmt: skip
        return [*base, "kill", "here", str(victim)]

    seconds += timed([(prepare, env)], max(3, starts // 3))
    rows = list(zip(names, seconds, strict=True))
    subprocess.run([*base, "kill", "here", str(job)], env=env, capture_output=True)
    leftover_sleeps(work)
    return rows


def leftover_sleeps(work: Path) -> None:
    """troika's kill TERMs the job script's pid and the script's `sleep 600`
    lives on, in the script's process group: those sleeps are killed here."""
    groups = set()
    for jid in [*work.glob("troika-victim-*.sh.jid"), work / "troika-job.sh.jid"]:
        with contextlib.suppress(ValueError, OSError):
            groups.add(int(jid.read_text().split()[0]))
    for entry in os.listdir("/proc"):
        with contextlib.suppress(ValueError, OSError):
            stat = Path(f"/proc/{entry}/stat").read_text()
            pgrp = int(stat[stat.rindex(")") + 2 :].split()[2])
            argv = Path(f"/proc/{entry}/cmdline").read_bytes().split(b"\0")
            if pgrp in groups and argv[:2] == [b"sleep", b"600"]:
                os.kill(int(entry), signal.SIGKILL)


def verdict(names: list[str], seconds: list[list[float]], side: int) -> str:
    bare = seconds[1][side]
    said = []
    for name, row in zip(names, seconds, strict=True):
        if name.startswith(("`jobrelay list", "`jobrelay status")):
            ms, ratio = row[side] * 1000, row[side] / bare
            met = ms <= GOAL_MS and ratio <= GOAL_RATIO
            said.append(f"{name.split()[1]} {ms:.1f} ms {ratio:.2f}x {'met' if met else 'NOT met'}")
    return "; ".join(said)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--starts", type=int, default=30, help="runs per command (default 30)")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="jobrelay-cli-start-"))
    try:
        names, seconds = jobrelay_rows(work, args.starts)
        troika = troika_rows(work, args.starts)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    version = sys.version.split()[0]
    print(f"venv: a fresh virtualenv of {sys.executable} ({version}), pip-installed `jobrelay`")
    print(f"system: {sys.executable} ({version}), `python3 -m jobrelay` from src/")
    print(f"median of {args.starts} starts (submit, kill: {max(3, args.starts // 3)})\n")
    print("| command | venv (user's install) | ratio | system interpreter | ratio |")
    print("|---|---|---|---|---|")
    for name, (venv, system) in zip(names, seconds, strict=True):
        print(
            f"| {name} | {venv * 1000:.1f} ms | {venv / seconds[1][0]:.2f} "
            f"| {system * 1000:.1f} ms | {system / seconds[1][1]:.2f} |"
        )
    if troika:
        print("\n| troika 0.2.7 | median | ratio to its venv's `python -c pass` |")
        print("|---|---|---|")
        for name, value in troika:
            print(f"| {name} | {value * 1000:.1f} ms | {value / troika[0][1]:.2f} |")
    else:
        print(f"\n(no troika at {TROIKA}: bench/setup_peers.sh installs it)")
    print(f"\ngoal (≤ {GOAL_MS:.0f} ms and ≤ {GOAL_RATIO:.0f}x `python -c pass`):")
    print(f"  venv: {verdict(names, seconds, 0)}")
    print(f"  system: {verdict(names, seconds, 1)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
