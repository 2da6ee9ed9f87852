"""bench/compare's table: figures beside each other, ratios, and the doc section."""

from __future__ import annotations

import datetime
import os
import platform
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HEAD = "## Issue 6: peers — jobrelay beside Cylc and troika"


@dataclass
class Row:
    """One figure: a median per system, or a word saying why there is none."""

    name: str
    unit: str  # "ms" or "s"
    jobrelay: float | None = None
    cylc: float | None = None
    troika: float | None = None
    words: dict[str, str] = field(default_factory=dict)  # system -> text instead of a number


def fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    return f"{value * 1000:.0f} ms" if unit == "ms" else f"{value:.2f} s"


def ratio(ours: float | None, theirs: float | None) -> str:
    if ours is None or theirs is None or ours <= 0:
        return "-"
    return f"{theirs / ours:.1f}x"


def cell(row: Row, system: str) -> str:
    value = getattr(row, system)
    return fmt(value, row.unit) if value is not None else row.words.get(system, "-")


def render(rows: list[Row], notes: list[str], failures: list[str], head: dict[str, str]) -> str:
    lines = [
        f"Date: {datetime.date.today()}; machine: {platform.node()}, {os.cpu_count()} CPUs, "
        f"{platform.platform()}; host: sshd on loopback (host1).",
        f"Peers: cylc-flow {head['cylc']} (the newest that installs on /usr/bin/python3 "
        f"{head['python']}, which the host user runs: 8.7.0 needs 3.12), troika {head['troika']}.",
        f"Command: `{head['command']}` ({head['took']}); medians of the runs given in each row.",
        "",
        "| figure | jobrelay | Cylc | troika | Cylc / jobrelay | troika / jobrelay |",
        "|---|---|---|---|---|---|",
    ]
    for row in rows:
        lines.append(
            f"| {row.name} | {cell(row, 'jobrelay')} | {cell(row, 'cylc')} | "
            f"{cell(row, 'troika')} | {ratio(row.jobrelay, row.cylc)} | "
            f"{ratio(row.jobrelay, row.troika)} |"
        )
    lines.append("")
    lines += [f"- goal: {text}" for text in goals(rows)]
    lines += [f"- {text}" for text in notes]
    lines += [f"- run with missing jobs or answers: {text}" for text in failures]
    return "\n".join(lines) + "\n"


def goals(rows: list[Row]) -> list[str]:
    """The issue's goals, judged from this run's rows (found by their names)."""

    def find(start: str) -> Row | None:
        return next((r for r in rows if r.name.startswith(start)), None)

    def verdict(ok: bool) -> str:
        return "met" if ok else "NOT met"

    out = []
    make = find("makespan, 200 trivial jobs")  # the sizes only
    if make and make.jobrelay and make.cylc:
        times = make.cylc / make.jobrelay
        ok = times >= 20 and make.jobrelay <= 2
        out.append(
            f"makespan >= 20x faster than Cylc and <= 2 s: {verdict(ok)} "
            f"({times:.0f}x, {make.jobrelay:.2f} s)"
        )
    poll = find("one poll of 1,000 jobs")
    if poll and poll.jobrelay:
        ms = poll.jobrelay * 1000
        if poll.cylc:
            times = poll.cylc / poll.jobrelay
            ok = times >= 5 and ms <= 60
            said = f"({times:.1f}x, {ms:.0f} ms)"
        else:
            ok, said = ms <= 60, f"({ms:.0f} ms; Cylc gave no figure: see the notes)"
        out.append(
            f"poll of 1,000 jobs >= 5x faster than Cylc and <= 60 ms warm: {verdict(ok)} {said}"
        )
    start = find("cold start")
    if start and start.jobrelay:
        ms = start.jobrelay * 1000
        out.append(f"agent cold start <= 30 ms: {verdict(ms <= 30)} ({ms:.0f} ms)")
    return out


def host_python_version() -> str:
    argv = ["/usr/bin/python3", "-c", "import platform; print(platform.python_version())"]
    return subprocess.run(argv, capture_output=True, text=True).stdout.strip()


METHOD = """How each system is driven (bench/peers.py, peers_jobrelay.py, peers_cylc.py,
peers_troika.py):
- jobrelay: makespan through the CLI (`jobrelay submit --jobs FILE --platform bench
  --wait`, a new process: ssh master, agent install check, agent calls, polls with
  its own delays: 0.05 s growing x1.5); polls and kill through the controller API in
  one process, warm: ssh master up, agent installed, the jobs polled before (the
  controller holds their status files' stamps and keeps an agent session on the
  host). Platform: `transport = "ssh"`, `hosts = ["host1"]`,
  `ssh_command = ["ssh", "-F", CFG]`, `run_root = "~/jobrelay-bench-STAMP"`.
  The 1,000-job poll is given four ways: the agent call as the controller makes it
  (its session), the same call made one-shot (a new agent process) over the
  multiplexed connection and over a new connection, and `Controller.poll` with the
  ledger in the cycle that finds the 500 ended (the bench puts them back to
  `running` in its ledger before each run; the files on the host stay as they are).
- Cylc: as its scheduler drives a remote host with comms method `poll`: job files
  written by cylc's own `JobFileWriter` (not timed, nor is remote init: `job.sh`
  into `~/cylc-run/WF/.service/etc`), `cylc jobs-submit --remote-mode` over ssh
  with the job files on stdin in its batch sizes (max batch submit size 100,
  batches concurrent), `cylc jobs-poll` and `cylc jobs-kill` over ssh with
  `env CYLC_VERSION=... bash --login -c 'exec "$0" "$@"'` as `construct_ssh_cmd`
  builds it. The scheduler polls all of a platform's jobs in one `jobs-poll`;
  where that hangs, the row below it gives Cylc in batches of 100, four at a time
  (its process pool size), which its scheduler does not do. Each Cylc job runs
  `cylc message` twice (started, succeeded): that is its job wrapper.
- troika: site `type: direct`, `connection: ssh`; `troika submit`, `troika monitor`,
  `troika kill` per job, 4 at a time; its polls are measured once per run of this
  command (a sweep of 1,000 troika processes takes minutes), after jobrelay's and
  Cylc's, with only its own jobs on the host: each running troika job holds an ssh
  session, and 500 of them use up the host user's pipe allowance, under which
  Cylc's `jobs-poll` hangs on any `ps` answer over 4 KiB (bench/peers_poll.py).
  A job is "known finished" when `monitor` (whose `ps` writes `SCRIPT.stat` after
  troika has exited: the bench waits for it) no longer lists its process.
- Every system learns of job ends by polling with jobrelay's delays (0.05 s, x1.5).
  "Verified gone": `pgrep -x -f 'sleep 600N'` on the host finds none of the
  system's job processes. Systems alternate run by run.
"""


def write_doc(table: str) -> None:
    """Replace this command's section of docs/performance.md (or add it)."""
    doc = ROOT / "docs" / "performance.md"
    text = doc.read_text() if doc.exists() else "# Performance\n"
    start = text.find(HEAD)
    if start < 0:
        text = text.rstrip("\n") + "\n\n"
        start = end = len(text)
    else:
        nxt = text.find("\n## ", start + len(HEAD))
        end = nxt + 1 if nxt >= 0 else len(text)
    section = f"{HEAD}\n\n{table}\n{METHOD}"
    doc.write_text(text[:start] + section + text[end:])
