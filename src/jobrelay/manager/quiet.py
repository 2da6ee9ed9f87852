"""Jobs whose poll brought back the very line the last poll did: judged once.

A scheduler polls thousands of running jobs whose status files and runner
answers do not change between cycles. ``judge`` is a pure function of the
job's ledger record, its reply line and the call (host, verb); its only use
of the clock is for jobs still ``submitting`` (the submit grace) and for the
start of an unreachable spell, which only a call that reached nobody sets.
So a poll whose reply line is the same decoded line as last time
(``ReplyLines`` hands back the same object for the same text), from the
same host, about a record equal to the one judged then, and whose
judgement then wrote nothing, would write nothing again: it is not judged.

Kept in memory only, per controller; anything else falls back to judging.
"""

from __future__ import annotations

from typing import Callable, Generic, TypeVar

from ..engine.protocol import (
    EndLine,
    JobReply,
    JobRequest,
    ProtocolError,
    decode_reply_line,
    job_wire,
)
from ..host_dataclasses import dataclass
from ..ledger.records import JobRecord
from ..states import JobState
from .agent_reply import AgentReply
from .stamps import Seen, StatusStamps

#: decoded lines not seen for this many parses are dropped (jobs that ended
#: or are polled rarely): the memo stays the size of what is being polled
LINE_MEMO_PARSES = 64
K = TypeVar("K")
V = TypeVar("V")


@dataclass(frozen=True)
class Judged:
    line: JobReply
    host: str
    job: JobRecord


class QuietJobs:
    """Job id -> the look last judged to change nothing about it."""

    def __init__(self) -> None:
        self._by_job: dict[int, Judged] = {}

    def __len__(self) -> int:
        return len(self._by_job)

    def unchanged(self, job: JobRecord, host: str, line: JobReply) -> bool:
        """The same line, host and record as a look that changed nothing."""
        seen = self._by_job.get(job.id)
        if (
            seen is None
            or seen.line is not line
            or seen.host != host
            or job.state is JobState.SUBMITTING  # judged by the clock (submit grace)
        ):
            return False
        if seen.job is job:
            return True
        if seen.job != job:
            return False
        self._by_job[job.id] = Judged(line, host, job)  # next time: the same object
        return True

    def remember(self, job: JobRecord, host: str, line: JobReply) -> None:
        self._by_job[job.id] = Judged(line, host, job)

    def forget(self, job_ids: list[int]) -> None:
        for job_id in job_ids:
            self._by_job.pop(job_id, None)


class Recent(Generic[K, V]):
    """A memo that forgets what was not used in the last ``rounds`` to
    ``2 * rounds`` rounds (a round: one call, or one poll), so it stays the
    size of what is being polled however long the controller runs. Two
    generations: an entry used in the older one moves to the newer one."""

    def __init__(self, rounds: int = LINE_MEMO_PARSES) -> None:
        self.rounds = rounds
        self._round = 0
        self._new: dict[K, V] = {}
        self._old: dict[K, V] = {}

    def __len__(self) -> int:
        return len(self._new) + len(self._old)

    def next_round(self) -> None:
        self._round += 1
        if self._round % self.rounds == 0:
            self._old, self._new = self._new, {}

    def get(self, key: K) -> V | None:
        value = self._new.get(key)
        if value is None:
            value = self._old.pop(key, None)
            if value is not None:
                self._new[key] = value
        return value

    def put(self, key: K, value: V) -> None:
        self._new[key] = value


class ReplyLines:
    """Decodes reply lines; a line whose text came before is not decoded again
    but handed back as the same ``JobReply`` object (``QuietJobs`` relies on it)."""

    def __init__(self) -> None:
        self._known: Recent[str, JobReply | EndLine] = Recent()

    def parse(self, host: str, stdout: str) -> AgentReply:
        """The agent's output, each line decoded (or recalled) into its type."""
        known = self._known
        known.next_round()
        replies: dict[str, JobReply] = {}
        end: EndLine | None = None
        errors: list[str] = []
        for raw in stdout.splitlines():
            line = known.get(raw)
            if line is None:
                if not raw.strip():
                    continue
                try:
                    line = decode_reply_line(raw)
                except ProtocolError as exc:
                    errors.append(str(exc))
                    continue
                if isinstance(line, JobReply):
                    known.put(raw, line)
            if isinstance(line, EndLine):
                end = line
            else:
                replies[line.job] = line
        return AgentReply(
            host,
            replies,
            complete=end is not None,
            agent_version=end.agent_version if end is not None else None,
            error="; ".join(errors[:3]) or None,
            runner_query=end.runner_query if end is not None else None,
        )


class RequestTexts:
    """Each job's request as encoded last time, reused while it is the same
    ``JobRequest`` object (the controller keeps those of unchanged jobs)."""

    def __init__(self) -> None:
        self._texts: Recent[str, tuple[JobRequest, str]] = Recent()

    def encode(self, jobs: list[JobRequest]) -> list[str]:
        self._texts.next_round()
        out = []
        for job in jobs:
            hit = self._texts.get(job.job)
            if hit is None or hit[0] is not job:
                hit = (job, job_wire(job))
                self._texts.put(job.job, hit)
            out.append(hit[1])
        return out


class PollRequests:
    """Each job's poll request, made again only when its ledger record or the
    last read of its status file changed: the same ``JobRequest`` object
    otherwise, whose encoding ``RequestTexts`` then reuses."""

    def __init__(self, make: Callable[[JobRecord], JobRequest], stamps: StatusStamps) -> None:
        self.make = make
        self.stamps = stamps
        self._made: Recent[int, tuple[JobRecord, Seen | None, JobRequest]] = Recent()

    def requests(self, jobs: list[JobRecord]) -> list[JobRequest]:
        self._made.next_round()
        out = []
        for job in jobs:
            seen = self.stamps.seen(job.id)
            hit = self._made.get(job.id)
            if hit is None or hit[1] is not seen or not (hit[0] is job or hit[0] == job):
                hit = (job, seen, self.stamps.request(job.id, self.make(job)))
                self._made.put(job.id, hit)
            elif hit[0] is not job:  # an equal record read again: compared once
                hit = (job, seen, hit[2])
                self._made.put(job.id, hit)
            out.append(hit[2])
        return out
