"""The soak's jobs and their accounting (bench/soak): what each job does, the
marker it writes, and how the ledger's final word is checked against it.

Every job appends to its own marker file (in a world-writable dir every host
and Slurm node sees): ``start <host> <pid>`` when it begins and, unless it is
killed, ``end <code>`` or ``end signal KILL`` just before it ends. From the
markers alone:

- run twice: more than one ``start`` line;
- lost: jobrelay's final state is ``lost``, or the job never reached a final
  state;
- misreported: the reported end differs from the marker's (succeeded with
  anything but ``end 0``, failed with another code or signal, killed when
  nobody killed it, never submitted while its marker shows a run).

A job jobrelay killed may still write ``end 0``: Slurm's cancel, on rare
occasions, TERMs its ``sleep 3600`` and not its shell, which runs on to its
last line. That is the kill's doing; its report is then the job's own end.
"""

from __future__ import annotations

import random
import shlex
from collections import Counter
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional

FINAL = {"succeeded", "failed", "killed", "submit-failed", "lost"}


class Kind(Enum):
    OK = "ok"  # exit 0 after a short sleep
    FAIL = "fail"  # exit 1-120
    SELF_KILL = "self-kill"  # kill -9 of its own shell
    KILLED = "killed"  # sleeps until jobrelay kills it


#: share of each kind among the jobs
MIX = ((Kind.OK, 0.70), (Kind.FAIL, 0.12), (Kind.SELF_KILL, 0.08), (Kind.KILLED, 0.10))


@dataclass(frozen=True)
class SoakJob:
    key: str  # also the job's name in the ledger
    kind: Kind
    code: int = 0
    sleep: float = 0.0

    def script(self, markers: Path) -> str:
        marker = shlex.quote(str(markers / self.key))
        lines = [f'printf "start %s %s\\n" "$(hostname)" "$$" >> {marker}']
        if self.kind is Kind.KILLED:
            lines.append("sleep 3600")
            lines.append(f'printf "end 0\\n" >> {marker}')
        elif self.kind is Kind.SELF_KILL:
            lines.append(f"sleep {self.sleep:.1f}")
            lines.append(f'printf "end signal KILL\\n" >> {marker}')
            lines.append("kill -9 $$")
        else:
            lines.append(f"sleep {self.sleep:.1f}")
            lines.append(f'printf "end {self.code}\\n" >> {marker}')
            lines.append(f"exit {self.code}")
        return "\n".join(lines) + "\n"


def plan(count: int, rng: random.Random, prefix: str) -> List[SoakJob]:
    kinds = [k for k, _ in MIX]
    weights = [w for _, w in MIX]
    jobs = []
    for n in range(count):
        kind = rng.choices(kinds, weights)[0]
        code = rng.randint(1, 120) if kind is Kind.FAIL else 0
        jobs.append(SoakJob(f"{prefix}{n:05d}", kind, code, rng.choice((0.0, 0.2, 0.5, 1.0))))
    return jobs


@dataclass
class Marker:
    starts: int = 0
    end: Optional[str] = None  # "0", "17", "signal KILL"


def read_marker(path: Path) -> Marker:
    marker = Marker()
    try:
        text = path.read_text(errors="replace")
    except FileNotFoundError:
        return marker
    for line in text.splitlines():
        if line.startswith("start "):
            marker.starts += 1
        elif line.startswith("end "):
            marker.end = line[4:].strip()
    return marker


def reported_end(report: Dict[str, Any]) -> Optional[str]:
    """The end jobrelay reports, in the marker's words (None: no end reported)."""
    if report.get("exit_signal"):
        return f"signal {report['exit_signal']}"
    if report.get("exit_code") is not None:
        return str(report["exit_code"])
    return None


def misreported(job: SoakJob, marker: Marker, report: Dict[str, Any]) -> Optional[str]:
    """Why the ledger's final word on ``job`` is not what its marker says, or None."""
    state = report.get("state")
    end = reported_end(report)
    if state == "succeeded" and marker.end != "0":
        return f"succeeded, marker says {marker.end!r}"
    if state == "failed" and (marker.end in (None, "0") or end != marker.end):
        return f"failed with {end}, marker says {marker.end!r}"
    if state == "killed" and job.kind is not Kind.KILLED:
        return f"killed, but nobody killed it (marker says {marker.end!r})"
    if state == "submit-failed" and marker.starts:
        return "submit-failed, but the job ran"
    return None


@dataclass
class Tally:
    jobs: int = 0
    lost: int = 0
    twice: int = 0
    misreported: int = 0
    not_submitted: int = 0  # said so honestly: submit-failed and no marker
    own_end: int = 0  # killed by jobrelay, yet their script recorded its own end
    states: Counter[str] = field(default_factory=Counter)
    examples: List[str] = field(default_factory=list)

    def note(self, what: str) -> None:
        if len(self.examples) < 20:
            self.examples.append(what)

    @property
    def ok(self) -> bool:
        return self.lost == 0 and self.twice == 0 and self.misreported == 0


def account(jobs: Iterable[SoakJob], reports: Dict[str, Dict[str, Any]], markers: Path) -> Tally:
    """Every planned job against the ledger's final word and its marker."""
    tally = Tally()
    for job in jobs:
        tally.jobs += 1
        marker = read_marker(markers / job.key)
        report = reports.get(job.key)
        state = report.get("state") if report else None
        tally.states[str(state)] += 1
        if marker.starts > 1:
            tally.twice += 1
            tally.note(f"{job.key}: ran {marker.starts} times")
        if report is None or state not in FINAL or state == "lost":
            tally.lost += 1
            tally.note(f"{job.key} ({job.kind.value}): {state}: {report}")
            continue
        if state == "submit-failed" and not marker.starts:
            tally.not_submitted += 1
        if job.kind is Kind.KILLED and state in ("succeeded", "failed"):
            tally.own_end += 1
            tally.note(f"{job.key} (killed): ended {state} by its own word: {report}")
        why = misreported(job, marker, report)
        if why:
            tally.misreported += 1
            tally.note(f"{job.key} ({job.kind.value}): {why}: {report}")
    return tally
