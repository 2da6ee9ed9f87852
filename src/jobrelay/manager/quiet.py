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

from ..engine.protocol import EndLine, JobReply, ProtocolError, decode_reply_line
from ..host_dataclasses import dataclass
from ..ledger.records import JobRecord
from ..states import JobState
from .agent_reply import AgentReply

#: decoded lines not seen for this many parses are dropped (jobs that ended
#: or are polled rarely): the memo stays the size of what is being polled
LINE_MEMO_PARSES = 64


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
        return (
            seen is not None
            and seen.line is line
            and job.state is not JobState.SUBMITTING  # judged by the clock (submit grace)
            and seen.host == host
            and seen.job == job
        )

    def remember(self, job: JobRecord, host: str, line: JobReply) -> None:
        self._by_job[job.id] = Judged(line, host, job)

    def forget(self, job_ids: list[int]) -> None:
        for job_id in job_ids:
            self._by_job.pop(job_id, None)


class ReplyLines:
    """Decodes reply lines; a line whose text came before is not decoded again
    but handed back as the same ``JobReply`` object (``QuietJobs`` relies on it)."""

    def __init__(self) -> None:
        self._known: dict[str, tuple[int, JobReply]] = {}  # text -> (parse number, line)
        self._parses = 0

    def parse(self, host: str, stdout: str) -> AgentReply:
        """The agent's output, each line decoded (or recalled) into its type."""
        self._parses += 1
        parse, known = self._parses, self._known
        replies: dict[str, JobReply] = {}
        end: EndLine | None = None
        errors: list[str] = []
        for raw in stdout.splitlines():
            hit = known.get(raw)
            if hit is not None:
                line: JobReply | EndLine = hit[1]
            elif not raw.strip():
                continue
            else:
                try:
                    line = decode_reply_line(raw)
                except ProtocolError as exc:
                    errors.append(str(exc))
                    continue
            if isinstance(line, EndLine):
                end = line
            else:
                known[raw] = (parse, line)
                replies[line.job] = line
        if parse % LINE_MEMO_PARSES == 0:
            oldest = parse - LINE_MEMO_PARSES
            self._known = {k: v for k, v in known.items() if v[0] > oldest}
        return AgentReply(
            host,
            replies,
            complete=end is not None,
            agent_version=end.agent_version if end is not None else None,
            error="; ".join(errors[:3]) or None,
            runner_query=end.runner_query if end is not None else None,
        )
