"""The fault suite's accounting: jobs that write markers, and the check that
every job is accounted for (issue 12 §5).

Each job appends ``start <job dir name>`` when it begins and ``end <job dir
name> <code>`` just before it exits with ``code``. The job dir's name holds
the ledger id and the job id, so it is unique across ledgers. After a fault
the test settles the run and calls ``account``: no job ran twice, no job
was lost, and every exit jobrelay reports is the exit the job wrote.
"""

from __future__ import annotations

import fcntl
import json
import shutil
import time
import uuid
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cli_harness import Cli

FINAL = frozenset({"succeeded", "failed", "killed", "lost", "submit-failed"})
SETTLE_DEADLINE = 420.0  # seconds; a loaded shared cluster is slow, never a failure by itself
DISRUPTIVE_LOCK = Path("/tmp/jobrelay-disruptive.lock")


@dataclass
class Markers:
    """A world-writable marker file the jobs (any test user) append to."""

    dir: Path = field(default_factory=lambda: Path(f"/tmp/jr-markers-{uuid.uuid4().hex[:10]}"))

    def __post_init__(self) -> None:
        self.dir.mkdir(mode=0o1777)
        self.dir.chmod(0o1777)  # mkdir's mode is cut by the umask
        self.path.touch()
        self.path.chmod(0o666)

    @property
    def path(self) -> Path:
        return self.dir / "markers"

    def script(self, code: int = 0, sleep: float = 0, middle: str = "") -> str:
        """A job that marks its start, runs ``middle``, sleeps, marks its end, exits ``code``."""
        me = '"${JOBRELAY_JOB_DIR##*/}"'
        return (
            f"printf 'start %s\\n' {me} >> {self.path}\n"
            f"{middle}\n"
            f"sleep {sleep}\n"
            f"printf 'end %s {code}\\n' {me} >> {self.path}\n"
            f"exit {code}\n"
        )

    @property
    def go(self) -> Path:
        return self.dir / "go"

    def gate(self) -> str:
        """Job text that waits until the test touches ``go`` (or, the test
        over, the marker dir is gone: a failed test leaves no job running)."""
        return f"while [ -d {self.dir} ] && [ ! -e {self.go} ]; do sleep 0.1; done"

    def lines(self) -> list[list[str]]:
        return [line.split() for line in self.path.read_text().splitlines() if line.strip()]

    def starts(self) -> Counter[str]:
        return Counter(words[1] for words in self.lines() if words[0] == "start")

    def ends(self) -> dict[str, list[int]]:
        out: dict[str, list[int]] = {}
        for words in self.lines():
            if words[0] == "end":
                out.setdefault(words[1], []).append(int(words[2]))
        return out

    def remove(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)


@contextmanager
def markers() -> Iterator[Markers]:
    m = Markers()
    try:
        yield m
    finally:
        m.remove()


def jobs_file(tmp: Path, jobs: Sequence[tuple[str, str]], tag: str = "jobs") -> Path:
    """A ``--jobs`` listing of (name, script text); the scripts are written beside it."""
    folder = tmp / f"{tag}-scripts"
    folder.mkdir(exist_ok=True)
    lines = []
    for n, (name, text) in enumerate(jobs):
        script = folder / f"{n}.sh"
        script.write_text(text, encoding="utf-8")
        lines.append(json.dumps({"script": str(script), "name": name}))
    listing = tmp / f"{tag}.jsonl"
    listing.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return listing


def code_of(n: int) -> int:
    """The exit code job ``n`` of a batch chooses: a mix of successes and failures."""
    return (0, 0, 3)[n % 3]


def settle(cli: Cli, run: str, *, poll_args: Sequence[str] = ()) -> list[dict[str, Any]]:
    """Poll ``run`` until every job is final; the last answer (generous deadline)."""
    end = time.monotonic() + SETTLE_DEADLINE
    while True:
        jobs = cli.json("poll", "--run", run, *poll_args)
        if all(j["state"] in FINAL for j in jobs) or time.monotonic() > end:
            return jobs
        time.sleep(1)


def key(job: dict[str, Any]) -> str:
    return Path(str(job["job_dir"])).name


def account(
    jobs: Sequence[dict[str, Any]],
    marks: Markers,
    *,
    all_ran: bool = True,
    may_die: frozenset[str] = frozenset(),
    reruns: frozenset[str] = frozenset(),
) -> None:
    """Every job accounted for: none lost, none run twice, every exit true.

    ``may_die``: job dir names the fault may kill mid-run (start, no end);
    they must then read failed or killed, never succeeded. ``reruns``: names
    a batch scheduler may legitimately run again (requeue after node loss).
    """
    starts, ends = marks.starts(), marks.ends()
    known = {key(j) for j in jobs}
    assert len(known) == len(jobs), "two jobs share a job dir"
    strangers = (set(starts) | set(ends)) - known
    wrong = [f"ran, but jobrelay does not report them: {sorted(strangers)}"] if strangers else []
    twice = {k: n for k, n in starts.items() if n > 1 and k not in reruns}
    if twice:
        wrong.append(f"run twice: {twice}")
    for job in jobs:
        problem = _misreport(
            job, starts[key(job)], ends.get(key(job), []), all_ran, may_die, reruns
        )
        if problem:
            wrong.append(f"{job['job']} ({job['name']}): {problem}: {job}")
    assert not wrong, f"{len(wrong)} of {len(jobs)} jobs not accounted for:\n" + "\n".join(wrong)


def _misreport(
    job: dict[str, Any],
    starts: int,
    ends: list[int],
    all_ran: bool,
    may_die: frozenset[str],
    reruns: frozenset[str],
) -> str:
    state = job["state"]
    if state not in FINAL:
        return f"{state}, not accounted for"
    if state == "lost" and not (starts and not ends and key(job) in may_die):
        return "lost, not accounted for"
    if all_ran and not starts:
        return "never ran"
    if ends:
        want = "succeeded" if ends[-1] == 0 else "failed"
        if len(ends) > 1 and key(job) not in reruns:
            return f"ended twice {ends}"
        if (state, job["exit_code"]) != (want, ends[-1]):
            return f"the job wrote exit {ends[-1]}"
        return ""
    if starts:
        if key(job) not in may_die:
            return "started, never ended"
        # died with nothing recorded: lost (DESIGN.md's contract), killed if we
        # killed it, failed only with an exit the runner itself recorded
        if state in ("lost", "killed"):
            return ""
        if state == "failed" and (job["exit_code"] is not None or job["exit_signal"]):
            return ""
        return f"died, yet reported {state} with no exit recorded"
    return "" if state == "submit-failed" else "never ran, yet reported"


@contextmanager
def disruptive() -> Iterator[None]:
    """Held while a test stops or kills a shared component (RULES.md)."""
    with DISRUPTIVE_LOCK.open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
