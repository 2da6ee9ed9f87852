"""Issue 3 benchmark: agent cold start, wrapper CPU per job, makespan of N trivial jobs.

    python3 bench/issue3.py [--jobs 200] [--repeat 5] [--starts 50]

Each figure is printed next to a peer measured in the same run on the same
machine (only such ratios mean anything):
- agent cold start: ``python3 -S agent.pyz`` with an empty poll request,
  against ``python3 -S -c pass`` (the bare interpreter);
- wrapper CPU per job: the assembled job file (wrapper + status file)
  against ``bash job.script`` alone, CPU of the child and its descendants;
- makespan of N background jobs, submit -> all known finished: the real CLI
  (``jobrelay submit --jobs FILE --wait``) and the controller API, against
  a bare loop starting N detached ``bash -c true`` and waiting for them.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from jobrelay.jobscript.assemble import JobSpec, assemble, write_job_files  # noqa: E402
from jobrelay.zipapps import build_agent  # noqa: E402

HOST_PYTHON = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable
TRIVIAL = "#!/bin/bash\ntrue\n"


def median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000.0


def wall(argv: list[str], stdin: bytes = b"") -> float:
    t0 = time.perf_counter()
    subprocess.run(argv, input=stdin, stdout=subprocess.DEVNULL, check=True)
    return time.perf_counter() - t0


def agent_start(work: Path, starts: int) -> tuple[float, float]:
    """Median wall time of the agent (empty poll) and of the bare interpreter, alternated."""
    agent = build_agent(work / "agent")
    root = work / "agent-root"
    root.mkdir()
    request = json.dumps({"v": 1, "verb": "poll", "run_root": str(root), "jobs": []}).encode()
    bare: list[float] = []
    ours: list[float] = []
    for _ in range(starts):
        bare.append(wall([HOST_PYTHON, "-S", "-c", "pass"]))
        ours.append(wall([HOST_PYTHON, "-S", str(agent)], request))
    return median_ms(ours), median_ms(bare)


def child_cpu(argv: list[str], cwd: str) -> float:
    """CPU seconds (user + system) of one child process and the descendants it waited for."""
    with open(os.devnull, "wb") as null:
        pid = os.posix_spawn(
            argv[0], argv, os.environ, file_actions=[(os.POSIX_SPAWN_DUP2, null.fileno(), 1)]
        )
    _, status, usage = os.wait4(pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{argv} failed in {cwd}")
    return usage.ru_utime + usage.ru_stime


def wrapper_cpu(work: Path, runs: int) -> tuple[float, float]:
    """Median CPU of the assembled job and of ``bash job.script``, alternated."""
    bare: list[float] = []
    ours: list[float] = []
    for i in range(runs):
        job_dir = work / "wrapper" / f"{i:04d}"
        job_dir.mkdir(parents=True)
        spec = JobSpec(job_ref=f"bench/{i}", name="trivial", job_dir=str(job_dir))
        write_job_files(str(job_dir), assemble(spec), TRIVIAL)
        os.chdir(job_dir)
        bare.append(child_cpu(["/bin/bash", str(job_dir / "job.script")], str(job_dir)))
        ours.append(child_cpu(["/bin/bash", str(job_dir / "job")], str(job_dir)))
    os.chdir(work)
    return median_ms(ours), median_ms(bare)


def bare_loop(n: int) -> float:
    """N detached ``bash -c true`` started, then all waited for."""
    t0 = time.perf_counter()
    procs = [
        subprocess.Popen(["/bin/bash", "-c", "true"], start_new_session=True) for _ in range(n)
    ]
    for proc in procs:
        proc.wait()
    return time.perf_counter() - t0


def cli_makespan(work: Path, n: int, tag: str) -> float:
    base = work / f"cli-{tag}"
    base.mkdir()
    script = base / "trivial.sh"
    script.write_text(TRIVIAL)
    config = base / "platforms.toml"
    config.write_text(f'[platforms.localhost]\nrun_root = "{base / "run"}"\n')
    jobs = base / "jobs.jsonl"
    jobs.write_text("".join(json.dumps({"script": str(script)}) + "\n" for _ in range(n)))
    env = dict(os.environ, JOBRELAY_HOME=str(base / "home"), JOBRELAY_CONFIG=str(config))
    env["PYTHONPATH"] = str(ROOT / "src")
    argv = [sys.executable, "-m", "jobrelay.cli.main", "submit", "--jobs", str(jobs), "--wait"]
    t0 = time.perf_counter()
    proc = subprocess.run(argv, env=env, capture_output=True, text=True)
    took = time.perf_counter() - t0
    if proc.returncode != 0 or proc.stdout.count("succeeded") != n:
        raise RuntimeError(f"CLI run failed ({proc.returncode}): {proc.stderr[-2000:]}")
    return took


async def _api_run(base: Path, n: int) -> float:
    from jobrelay.ledger.store import Ledger
    from jobrelay.manager.controller import Controller, SubmitItem
    from jobrelay.manager.waiting import wait_final
    from jobrelay.platforms.config import load_platforms
    from jobrelay.states import JobState

    script = base / "trivial.sh"
    script.write_text(TRIVIAL)
    config = base / "platforms.toml"
    config.write_text(f'[platforms.localhost]\nrun_root = "{base / "run"}"\n')
    home = base / "home"
    home.mkdir()
    platforms = load_platforms(str(config))
    with Ledger.open(home / "ledger.sqlite") as ledger:
        controller = Controller(home, platforms, ledger)
        try:
            items = [SubmitItem(script, "trivial") for _ in range(n)]
            t0 = time.perf_counter()
            jobs = await controller.submit(items, "localhost", "bench")
            jobs = await wait_final(controller, [j.id for j in jobs])
            took = time.perf_counter() - t0
        finally:
            await controller.close()
    if any(j.state is not JobState.SUCCEEDED for j in jobs):
        raise RuntimeError("API run: not all jobs succeeded")
    return took


def api_makespan(work: Path, n: int, tag: str) -> float:
    base = work / f"api-{tag}"
    base.mkdir()
    return asyncio.run(_api_run(base, n))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--jobs", type=int, default=200, help="jobs per makespan run (200)")
    ap.add_argument("--repeat", type=int, default=5, help="makespan runs per system (5)")
    ap.add_argument("--starts", type=int, default=50, help="cold starts / wrapper runs (50)")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="jobrelay-bench3-") as tmp:
        work = Path(tmp)
        os.chdir(work)
        agent_ms, python_ms = agent_start(work, args.starts)
        wrap_ms, script_ms = wrapper_cpu(work, args.starts)
        loop: list[float] = []
        cli: list[float] = []
        api: list[float] = []
        for r in range(args.repeat):  # alternated, run by run
            loop.append(bare_loop(args.jobs))
            cli.append(cli_makespan(work, args.jobs, str(r)))
            api.append(api_makespan(work, args.jobs, str(r)))
    n = args.jobs
    rows = [
        ("agent cold start (empty poll), ms", agent_ms, "python3 -S -c pass", python_ms),
        ("job CPU incl. wrapper, ms", wrap_ms, "bash job.script", script_ms),
        (f"makespan {n} jobs, CLI submit --wait, s", statistics.median(cli), "", 0.0),
        (f"makespan {n} jobs, controller API, s", statistics.median(api), "", 0.0),
        (f"{n} detached bash -c true, started+waited, s", statistics.median(loop), "", 0.0),
    ]
    print(f"python {HOST_PYTHON} (agent), {os.cpu_count()} CPUs; medians")
    for name, ours, peer_name, peer in rows:
        extra = f"   peer {peer_name}: {peer:.1f}  (x{ours / peer:.2f})" if peer_name else ""
        print(f"  {name:<48} {ours:8.2f}{extra}")
    print(f"  wrapper CPU overhead per job, ms                 {wrap_ms - script_ms:8.2f}")
    loop_s = statistics.median(loop)
    print(
        f"  makespan / bare loop: CLI x{statistics.median(cli) / loop_s:.1f},"
        f" API x{statistics.median(api) / loop_s:.1f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
