"""What one batch call to a host brought back (from the agent, SSH-free, or the
engine run in this process)."""

from __future__ import annotations

from ..engine.protocol import JobReply, RunnerQuery
from ..host_dataclasses import dataclass, field, replace


@dataclass(frozen=True)
class AgentReply:
    """What came back from one agent call."""

    host: str
    replies: dict[str, JobReply] = field(default_factory=dict)  # job ref -> its line
    complete: bool = False  # the closing line arrived
    unreachable: bool = False  # the host could not be reached (ssh 255, timeout)
    error: str | None = None  # why the call as a whole failed
    agent_version: str | None = None
    not_started: bool = False  # the agent never ran (its install failed): nothing was done
    runner_query: RunnerQuery | None = None  # poll under a grant: the runner query made


def cut_short(reply: AgentReply) -> bool:
    """The call failed unreachable without ssh's word that it never reached
    the host: its command may have run before the connection dropped."""
    return reply.unreachable and not reply.not_started


def after_tries(reply: AgentReply, earlier_cut_short: bool) -> AgentReply:
    """The last try's ``reply``, which cannot say that nothing started when an
    earlier try of the same call may have run (its jobs may be with the runner)."""
    return replace(reply, not_started=False) if earlier_cut_short and reply.not_started else reply
