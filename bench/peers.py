"""Issue 6: jobrelay against Cylc and troika, side by side in one run (``bench/compare``).

    bench/compare [--quick] [--no-write]

On the project's SSH test host (host1 of $JOBRELAY_TEST_INFRA/env.json), each
figure is measured for each system, the systems alternating run by run, and
the median is reported:
- makespan of N trivial background jobs, submit -> all known finished;
- one poll of 1,000 jobs, half finished, half running (``sleep``);
- kill of 200 running jobs until all are verified gone (``pgrep`` on the host);
- cold start of the host-side command (empty poll);
- jobrelay only: the 1,000-job poll with and without ssh multiplexing.
All three systems find out that jobs ended by polling, with the same delays
(jobrelay's own: 0.05 s growing x1.5). Peers live in their own virtualenvs
under /opt/jobrelay-bench (bench/setup_peers.sh). The table goes to stdout
and into docs/performance.md ("Issue 6: peers").
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import json
import os
import platform
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(HERE))

from peers_cylc import CylcWorkflow, cylc_version  # noqa: E402
from peers_troika import TroikaSite, troika_version  # noqa: E402

from jobrelay.agent.build import build_zipapp  # noqa: E402

HOST_PYTHON = "/usr/bin/python3"
FIRST_DELAY, GROWTH, MAX_DELAY = 0.05, 1.5, 5.0
FAILURES: list[str] = []  # runs where not every job ran: printed with the table
SLEEP = {"jobrelay": "sleep 6001", "cylc": "sleep 6002", "troika": "sleep 6003"}


def load_infra() -> dict[str, Any]:
    root = Path(os.environ.get("JOBRELAY_TEST_INFRA", "/tmp/jobrelay-test-infra"))
    data: dict[str, Any] = json.loads((root / "env.json").read_text())
    return data


def until(done: Callable[[], bool], limit: float = 600.0) -> None:
    """Call ``done`` with jobrelay's growing delays until it says yes."""
    delay = FIRST_DELAY
    deadline = time.monotonic() + limit
    while not done():
        if time.monotonic() > deadline:
            raise RuntimeError("gave up waiting")
        time.sleep(delay)
        delay = min(delay * GROWTH, MAX_DELAY)


class Host:
    def __init__(self, infra: dict[str, Any], name: str) -> None:
        self.name = name
        self.ssh = ["ssh", "-F", infra["ssh_config"]]
        self.home = infra["hosts"][name]["home"]

    def run(self, command: str, stdin: str | None = None) -> str:
        proc = subprocess.run(
            [*self.ssh, self.name, command], input=stdin, capture_output=True, text=True
        )
        return proc.stdout

    def pids(self, pattern: str) -> list[str]:
        return self.run(f"pgrep -x -f {shlex.quote(pattern)} || true").split()

    def kill_pids(self, pids: list[str]) -> None:
        """Clean-up: end our own leftover job processes, by id."""
        if pids:
            self.run("kill -9 " + " ".join(pids) + " 2>/dev/null || true")


# --------------------------------------------------------------------- jobrelay
class Jobrelay:
    """jobrelay through its controller API, and its CLI for the makespan."""

    def __init__(self, host: Host, work: Path, tag: str) -> None:
        self.host = host
        self.work = work
        self.tag = tag
        work.mkdir(parents=True, exist_ok=True)
        ssh = json.dumps(host.ssh)
        run_root = f"~/jobrelay-bench-{tag}"
        self.config = work / "platforms.toml"
        self.config.write_text(
            f'[platforms.bench]\ntransport = "ssh"\nhosts = ["{host.name}"]\n'
            f'ssh_command = {ssh}\nrun_root = "{run_root}"\n\n'
            f'[platforms.bench-nomux]\ntransport = "ssh"\nhosts = ["{host.name}"]\n'
            f'ssh_command = {ssh}\nrun_root = "{run_root}"\nmultiplex = false\n'
        )
        # Work-around (reported): the agent install fails on a run root that
        # does not exist yet (rsync cannot create its parent).
        host.run(f"mkdir -p jobrelay-bench-{tag}")
        self.home = work / "home"
        self.home.mkdir(exist_ok=True)
        self.loop = asyncio.new_event_loop()
        from jobrelay.ledger.store import Ledger
        from jobrelay.manager.controller import Controller
        from jobrelay.platforms.config import load_platforms

        self.ledger = Ledger.open(self.home / "ledger.sqlite")
        self.controller = Controller(self.home, load_platforms(str(self.config)), self.ledger)

    def close(self) -> None:
        self.loop.run_until_complete(self.controller.close())
        self.ledger.close()
        self.loop.close()

    def script(self, name: str, body: str) -> Path:
        path = self.work / name
        path.write_text(f"#!/bin/bash\n{body}\n")
        return path

    def cli_makespan(self, n: int, run: str) -> float:
        script = self.script("trivial.sh", "echo ran")
        jobs = self.work / f"{run}.jsonl"
        jobs.write_text("".join(json.dumps({"script": str(script)}) + "\n" for _ in range(n)))
        env = dict(os.environ, JOBRELAY_HOME=str(self.work / "cli-home"))
        env["JOBRELAY_CONFIG"] = str(self.config)
        env["PYTHONPATH"] = str(ROOT / "src")
        argv = [sys.executable, "-m", "jobrelay.cli.main", "submit", "--jobs", str(jobs)]
        argv += ["--platform", "bench", "--run", run, "--wait", "--timeout", "300"]
        t0 = time.perf_counter()
        proc = subprocess.run(argv, env=env, capture_output=True, text=True)
        took = time.perf_counter() - t0
        if proc.stdout.count("succeeded") != n:
            FAILURES.append(
                f"jobrelay ({run}): {proc.stdout.count('succeeded')} of {n} succeeded: "
                + proc.stderr.strip()[-300:]
            )
        return took

    def submit(self, bodies: list[str], run: str, platform_name: str = "bench") -> list[Any]:
        from jobrelay.manager.controller import SubmitItem

        paths = {b: self.script(f"s{abs(hash(b))}.sh", b) for b in set(bodies)}
        items = [SubmitItem(paths[b], f"j{i}") for i, b in enumerate(bodies)]
        return self.loop.run_until_complete(self.controller.submit(items, platform_name, run))

    def poll(self, jobs: list[Any]) -> list[Any]:
        return self.loop.run_until_complete(self.controller.poll(jobs))

    def agent_poll(self, jobs: list[Any]) -> Any:
        """The agent call of a poll, for jobs the controller would skip (final in its ledger)."""
        from jobrelay.agent.protocol import JobRequest

        ctl = self.controller
        platform_ = ctl.platform("bench")
        requests = [JobRequest(job=j.ref, dir=j.job_dir) for j in jobs]
        call = ctl._call(platform_, ctl.picker(platform_).candidates(), "poll", requests)
        return self.loop.run_until_complete(call)

    def kill(self, jobs: list[Any]) -> list[Any]:
        return self.loop.run_until_complete(self.controller.kill(jobs))

    def find(self, run: str) -> list[Any]:
        return self.ledger.find(run=run)


# ------------------------------------------------------------------- figures
def makespan_cylc(host: Host, work: Path, n: int, tag: str) -> float:
    wf = CylcWorkflow(host.ssh, host.name, f"jrbench-{tag}", work / f"cylc-{tag}")
    wf.remote_init()
    wf.write_jobs(["echo ran"] * n)
    t0 = time.perf_counter()
    wf.submit(wf.dirs)
    pending = list(wf.dirs)

    def finished() -> bool:
        nonlocal pending
        summaries = wf.poll(pending) or {}
        pending = [d for d in pending if "run_status" not in summaries.get(d, {})]
        return not pending

    until(finished)
    took = time.perf_counter() - t0
    ran = host.run(f"cat cylc-run/{wf.name}/log/job/1/*/01/job.out | grep -c '^ran$'")
    if ran.strip() != str(n):
        FAILURES.append(f"Cylc ({tag}): {ran.strip()} of {n} jobs ran")
    return took


def makespan_troika(host: Host, site: TroikaSite, n: int, tag: str) -> float:
    scripts = site.write_jobs(f"make-{tag}", ["echo ran"] * n)
    t0 = time.perf_counter()
    site.submit(scripts)
    pending = list(scripts)

    def finished() -> bool:
        nonlocal pending
        pending = site.running(pending)
        return not pending

    until(finished)
    took = time.perf_counter() - t0
    ran = sum(s.with_suffix(".out").read_text() == "ran\n" for s in scripts)
    if ran != n:
        FAILURES.append(f"troika ({tag}): {ran} of {n} jobs ran")
    return took


def fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    return f"{value * 1000:.0f} ms" if unit == "ms" else f"{value:.2f} s"


def ratio(a: float | None, b: float | None) -> str:
    if a is None or b is None or a <= 0:
        return "-"
    return f"{b / a:.1f}x"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="one run of each figure")
    ap.add_argument("--jobs", type=int, default=200, help="makespan and kill size (200)")
    ap.add_argument("--poll-jobs", type=int, default=1000, help="poll size (1000)")
    ap.add_argument("--no-write", action="store_true", help="do not update docs/performance.md")
    args = ap.parse_args(argv)
    runs_make = 1 if args.quick else 2
    runs_poll = 1 if args.quick else 2
    runs_kill = 1 if args.quick else 2
    starts = 10 if args.quick else 30
    t_start = time.monotonic()
    infra = load_infra()
    host = Host(infra, "host1")
    stamp = datetime.datetime.now().strftime("%Y%m%d%H%M%S")
    leftovers: list[str] = []
    med: dict[str, dict[str, float | None]] = {}
    notes: dict[str, str] = {}
    with tempfile.TemporaryDirectory(prefix="jobrelay-peers-") as tmp:
        work = Path(tmp)
        jr = Jobrelay(host, work / "jobrelay", stamp)
        site = TroikaSite(host.ssh, host.name, work / "troika")
        try:
            # ---- cold start of the host-side command (local, same Python)
            agent = build_zipapp(work / "agent")
            empty = json.dumps({"v": 1, "verb": "poll", "run_root": str(work), "jobs": []})
            cylc_cmd = [str(Path(cylc_bin()) / "cylc"), "jobs-poll", "--", str(work / "none")]
            a_s: list[float] = []
            c_s: list[float] = []
            for _ in range(starts):
                a_s.append(timed([HOST_PYTHON, "-S", str(agent)], empty))
                c_s.append(timed(cylc_cmd, None))
            med["cold start of the host-side command (empty poll)"] = {
                "jobrelay": statistics.median(a_s),
                "cylc": statistics.median(c_s),
                "troika": None,
                "unit": 1.0,
            }
            notes["troika start"] = "troika runs nothing on the host but the job (bash -s)"
            log(t_start, f"cold start: jobrelay {a_s[:3]}, cylc {c_s[:3]}")

            # ---- makespan
            mk: dict[str, list[float]] = {"jobrelay": [], "cylc": [], "troika": []}
            for r in range(runs_make):
                mk["jobrelay"].append(jr.cli_makespan(args.jobs, f"make{r}"))
                mk["cylc"].append(makespan_cylc(host, work, args.jobs, f"{stamp}-m{r}"))
                mk["troika"].append(makespan_troika(host, site, args.jobs, f"m{r}"))
                log(t_start, f"makespan run {r}: {mk}")
            med[f"makespan, {args.jobs} trivial jobs (submit -> all known finished)"] = {
                k: statistics.median(v) for k, v in mk.items()
            }

            # ---- poll of 1000 jobs, half finished, half running
            half = args.poll_jobs // 2
            jobs = jr.submit(["echo ran"] * half + [SLEEP["jobrelay"]] * half, "poll")
            wf = CylcWorkflow(host.ssh, host.name, f"jrbench-{stamp}-p", work / "cylc-poll")
            wf.remote_init()
            wf.write_jobs(["echo ran"] * half + [SLEEP["cylc"]] * half)
            wf.submit(wf.dirs)
            tscripts = site.write_jobs("poll", ["echo ran"] * half + [SLEEP["troika"]] * half)
            site.submit(tscripts)

            def settled() -> bool:
                nonlocal jobs
                jobs = jr.poll(jobs)
                return sum(j.state.is_final for j in jobs) == half

            until(settled)
            until(lambda: all("run_status" in s for s in (wf.poll(wf.dirs[:half]) or {}).values()))
            # troika's sleepers live as long as their ssh connection: some may drop
            until(lambda: not site.running(tscripts[:half]))
            p: dict[str, list[float]] = {k: [] for k in ("jobrelay", "cylc", "troika", "nomux")}
            f: dict[str, list[float]] = {"jobrelay": [], "cylc": [], "troika": []}
            finished_jobs = [j for j in jobs if j.state.is_final]
            cylc_hung = False
            alive = tscripts[half:]
            for _ in range(runs_poll):
                t0 = time.perf_counter()
                polled = jr.poll(jobs)
                p["jobrelay"].append(time.perf_counter() - t0)
                if sum(j.state.is_final for j in polled) != half:
                    raise RuntimeError("jobrelay poll: wrong number of finished jobs")
                if not cylc_hung:
                    t0 = time.perf_counter()
                    summaries = wf.poll(wf.dirs, timeout=60.0)
                    if summaries is None:
                        cylc_hung = True
                    else:
                        p["cylc"].append(time.perf_counter() - t0)
                if not p["troika"]:  # once: a sweep of 1,000 troika processes takes minutes
                    t0 = time.perf_counter()
                    alive = site.running(tscripts)
                    p["troika"].append(time.perf_counter() - t0)
                if len(alive) != half:  # held ssh connections dropped: say so
                    notes["troika poll"] = (
                        f"troika: only {len(alive)} of its {half} sleeping jobs were still "
                        "known running at the poll (a job lives as long as its ssh connection)"
                    )
                # the same, of the finished half only
                t0 = time.perf_counter()
                jr.agent_poll(finished_jobs)
                f["jobrelay"].append(time.perf_counter() - t0)
                t0 = time.perf_counter()
                wf.poll(wf.dirs[:half])
                f["cylc"].append(time.perf_counter() - t0)
                if not f["troika"]:
                    t0 = time.perf_counter()
                    site.running(tscripts[:half])
                    f["troika"].append(time.perf_counter() - t0)
            if cylc_hung:
                notes["cylc poll"] = (
                    f"Cylc: `cylc jobs-poll` of the {args.poll_jobs} jobs never returned (ended "
                    "after 60 s): it waits for `ps` to exit before reading its output "
                    "(job_runner_mgr._jobs_poll_runner: proc.wait() then communicate()), and "
                    f"`ps` of {half} running jobs fills the 64 KiB pipe: a deadlock"
                )
            nomux = jobs_on(jobs, "bench-nomux")
            jr.loop.run_until_complete(jr.controller.poll(nomux))  # installs the agent there
            for _ in range(runs_poll):
                t0 = time.perf_counter()
                jr.loop.run_until_complete(jr.controller.poll(nomux))
                p["nomux"].append(time.perf_counter() - t0)
            med[f"one poll of {args.poll_jobs} jobs, half running (warm)"] = {
                k: statistics.median(p[k]) if p[k] else None for k in ("jobrelay", "cylc", "troika")
            }
            med[f"one poll of the {half} finished jobs of those (jobrelay: the agent call)"] = {
                k: statistics.median(v) for k, v in f.items()
            }
            med[f"jobrelay: poll of {args.poll_jobs}, multiplexed vs a new ssh connection"] = {
                "jobrelay": statistics.median(p["jobrelay"]),
                "nomux": statistics.median(p["nomux"]),
            }
            # the poll jobs' sleepers: cylc's and jobrelay's killed by their own kill below
            jr.kill(jobs)
            wf.kill(wf.dirs)
            site.kill(tscripts)
            log(t_start, f"poll: {p}")
            # troika cannot end its sleepers (see the kill figure): end them, by pid
            time.sleep(1.0)
            for pattern in SLEEP.values():
                host.kill_pids(host.pids(pattern))

            # ---- kill of N running jobs until verified gone
            kl: dict[str, list[float]] = {"jobrelay": [], "cylc": []}
            troika_left: list[int] = []
            for r in range(runs_kill):
                kl["jobrelay"].append(kill_jobrelay(jr, host, args.jobs, f"kill{r}"))
                kl["cylc"].append(kill_cylc(host, work, args.jobs, f"{stamp}-k{r}"))
                troika_left.append(kill_troika(host, site, args.jobs, f"k{r}"))
            med[f"kill {args.jobs} running jobs until verified gone"] = {
                "jobrelay": statistics.median(kl["jobrelay"]),
                "cylc": statistics.median(kl["cylc"]),
                "troika": None,
            }
            notes["troika kill"] = (
                f"troika kill signals the local ssh client: {max(troika_left)} of "
                f"{args.jobs} jobs still running on the host 2 s later"
            )
        finally:
            for pattern in SLEEP.values():
                leftovers += host.pids(pattern)
            host.kill_pids(leftovers)
            jr.close()
            # this run's job dirs on the host (jobrelay's run root, Cylc's workflows)
            host.run(f"rm -rf ~/jobrelay-bench-{stamp} ~/cylc-run/jrbench-{stamp}-*")
    table = render(med, notes, args, time.monotonic() - t_start)
    print(table)
    if not args.no_write:
        write_doc(table)
    return 0


def host_python_version() -> str:
    argv = [HOST_PYTHON, "-c", "import platform; print(platform.python_version())"]
    return subprocess.run(argv, capture_output=True, text=True).stdout.strip()


def log(t_start: float, text: str) -> None:
    print(f"[{time.monotonic() - t_start:.0f} s] {text}", file=sys.stderr, flush=True)


def cylc_bin() -> str:
    return "/opt/jobrelay-bench/cylc-venv/bin"


def jobs_on(jobs: list[Any], platform_name: str) -> list[Any]:
    from dataclasses import replace

    return [replace(j, platform=platform_name) for j in jobs]


def timed(argv: list[str], stdin: str | None) -> float:
    t0 = time.perf_counter()
    subprocess.run(argv, input=stdin, capture_output=True, text=True)
    return time.perf_counter() - t0


def kill_jobrelay(jr: Jobrelay, host: Host, n: int, run: str) -> float:
    jobs = jr.submit([SLEEP["jobrelay"]] * n, run)
    until(lambda: len(host.pids(SLEEP["jobrelay"])) >= n)
    t0 = time.perf_counter()
    jr.kill(jr.find(run))
    until(lambda: not host.pids(SLEEP["jobrelay"]))
    del jobs
    return time.perf_counter() - t0


def kill_cylc(host: Host, work: Path, n: int, tag: str) -> float:
    wf = CylcWorkflow(host.ssh, host.name, f"jrbench-{tag}", work / f"cylc-{tag}")
    wf.remote_init()
    wf.write_jobs([SLEEP["cylc"]] * n)
    wf.submit(wf.dirs)
    # running as Cylc knows it (job.status has CYLC_JOB_PID and the init time,
    # written by the backgrounded `cylc message started`): killed before that,
    # Cylc kills only the job's first process and the user's script lives on
    until(lambda: all("time_run" in v for v in (wf.poll(wf.dirs) or {"": {}}).values()))
    until(lambda: len(host.pids(SLEEP["cylc"])) >= n)
    t0 = time.perf_counter()
    wf.kill(wf.dirs)
    until(lambda: not host.pids(SLEEP["cylc"]))
    return time.perf_counter() - t0


def kill_troika(host: Host, site: TroikaSite, n: int, tag: str) -> int:
    scripts = site.write_jobs(f"kill-{tag}", [SLEEP["troika"]] * n)
    site.submit(scripts)
    until(lambda: len(host.pids(SLEEP["troika"])) >= n)
    site.kill(scripts)
    time.sleep(2.0)
    left = host.pids(SLEEP["troika"])
    host.kill_pids(left)
    return len(left)


def render(
    med: dict[str, dict[str, float | None]], notes: dict[str, str], args: Any, took: float
) -> str:
    cv = cylc_version()
    tv = troika_version()
    lines = [
        f"Date: {datetime.date.today()}; machine: {platform.node()}, {os.cpu_count()} CPUs, "
        f"{platform.platform()}; host: sshd on loopback (host1).",
        f"Peers: cylc-flow {cv} (newest that installs on /usr/bin/python3 "
        f"{host_python_version()}: 8.7.0 needs 3.12), troika {tv}.",
        f"Command: `bench/compare{' --quick' if args.quick else ''}` ({took:.0f} s).",
        "",
        "| figure | jobrelay | Cylc | troika | Cylc / jobrelay | troika / jobrelay |",
        "|---|---|---|---|---|---|",
    ]
    for name, row in med.items():
        if "nomux" in row:
            continue
        unit = "s" if "makespan" in name or "kill" in name else "ms"
        jr, cy, tr = row.get("jobrelay"), row.get("cylc"), row.get("troika")
        tr_text = fmt(tr, unit)
        if tr is None:
            tr_text = "cannot" if "kill" in name else "n/a"
        cy_text = fmt(cy, unit) if cy is not None else "hangs"
        lines.append(
            f"| {name} | {fmt(jr, unit)} | {cy_text} | {tr_text} | {ratio(jr, cy)} "
            f"| {ratio(jr, tr)} |"
        )
    for name, row in med.items():
        if "nomux" in row:
            lines.append(
                f"| {name} | {fmt(row['jobrelay'], 'ms')} | (no multiplexing: "
                f"{fmt(row['nomux'], 'ms')}) | | {ratio(row['jobrelay'], row['nomux'])} | |"
            )
    lines.append("")
    lines += [f"- {text}" for text in notes.values()]
    lines += [f"- run with missing jobs: {text}" for text in FAILURES]
    return "\n".join(lines) + "\n"


METHOD = """How each system is driven (bench/peers.py, peers_cylc.py, peers_troika.py):
- jobrelay: makespan through the CLI (`jobrelay submit --jobs FILE --platform bench --wait`,
  a new process: ssh master set up, agent call, polls); poll and kill through the
  controller API in one process (warm: its ssh master is up). Platform:
  `transport = "ssh"`, `hosts = ["host1"]`, `ssh_command = ["ssh", "-F", CFG]`,
  `run_root = "~/jobrelay-bench-STAMP"`.
- Cylc: as its scheduler drives a remote host with comms method `poll`: job files
  written by cylc's own `JobFileWriter` (not timed, nor is remote init: `job.sh`
  into `~/cylc-run/WF/.service/etc`), `cylc jobs-submit --remote-mode` over ssh
  with the job files on stdin in its batch sizes (max batch submit size 100,
  batches concurrent), `cylc jobs-poll` and `cylc jobs-kill` over ssh with
  `env CYLC_VERSION=... bash --login -c 'exec "$0" "$@"'` as `construct_ssh_cmd`
  builds it. Each Cylc job runs `cylc message` twice (started, succeeded): that is
  its job wrapper.
- troika: site `type: direct`, `connection: ssh`; `troika submit`, `troika monitor`,
  `troika kill` per job, 4 at a time; its polls of 1,000 and 500 jobs are measured
  once per run of this command (a sweep of 1,000 troika processes takes minutes).
  A job is "known finished" when `monitor` no longer lists its process.
- Every system learns of job ends by polling with jobrelay's delays (0.05 s, x1.5).
  "Verified gone": `pgrep -x -f 'sleep 600N'` on the host finds none of the
  system's job processes. Medians over the runs; systems alternate run by run.
"""


def write_doc(table: str) -> None:
    doc = ROOT / "docs" / "performance.md"
    text = doc.read_text() if doc.exists() else "# Performance\n"
    head = "## Issue 6: peers"
    start = text.find(head)
    end = len(text)
    if start >= 0:
        nxt = text.find("\n## ", start + len(head))
        end = nxt + 1 if nxt >= 0 else len(text)
    else:
        start = len(text)
        text += "\n"
        start = len(text)
        end = start
    section = f"{head}\n\n{table}\n{METHOD}"
    doc.write_text(text[:start] + section + text[end:])


if __name__ == "__main__":
    sys.exit(main())
