"""What one batch call to a host brought back (from the agent, SSH-free, or the
engine run in this process)."""

from __future__ import annotations

from ..engine.protocol import JobReply, RunnerQuery
from ..host_dataclasses import dataclass, field


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
