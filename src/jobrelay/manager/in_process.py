"""The host-side engine run inside this process, for platforms whose job
files are on this machine (the local transport).

What a one-shot command such as ``jobrelay status`` needs on the local
platform is one engine call: starting the agent as a process for it costs
more than the call itself (an interpreter start, the zipapp, a pipe). The
engine is the same code the agent runs (``engine.verbs.Engine`` over
``agent.local_host.LocalJobHost``), so the replies are the same lines.
No asyncio here: the caller may be a synchronous command.
"""

from __future__ import annotations

from .. import __version__
from ..engine.jobhost import HostTrouble
from ..engine.protocol import JobReply, JobRequest, RunnerGrant
from ..platforms.model import Platform
from .agent_reply import AgentReply

TYPE_CHECKING = False  # importing typing costs a one-shot command's start: names for mypy only
if TYPE_CHECKING:
    from typing import Any


def runner_options(platform: Platform) -> dict[str, Any]:
    """The RunnerOptions fields the engine gets for this platform (on the wire
    for the agent, or directly here)."""
    # A runner command gets half the call's time: a hung squeue is timed out
    # and reported by the engine, not mistaken for an unreachable host.
    options: dict[str, Any] = {
        "command_timeout": platform.command_timeout / 2,
        "kill_grace": platform.kill_grace,
        "kill_timeout": platform.kill_timeout,
    }
    if platform.cluster:
        options["cluster"] = platform.cluster
    if platform.runner_prefix:
        options["command_prefix"] = list(platform.runner_prefix)
    return options


def call_in_process(
    platform: Platform,
    host: str,
    verb: str,
    jobs: list[JobRequest],
    grant: RunnerGrant | None = None,
) -> AgentReply:
    """One engine call here, answered as an agent call would be (``grant``:
    the polling budget's word, as the agent gets it)."""
    from ..agent.jobdirs import expand_root
    from ..agent.local_host import LocalJobHost
    from ..engine.verbs import Engine
    from ..engine.verbs import runner_options as engine_options

    engine = Engine(
        LocalJobHost(expand_root(platform.run_root)),
        verb,
        engine_options(runner_options(platform)),
        grant,
    )
    replies: dict[str, JobReply] = {}
    try:
        for reply in engine.run(jobs):
            replies[reply.job] = reply
    except HostTrouble as exc:
        return AgentReply(host, replies, unreachable=exc.unreachable, error=str(exc))
    return AgentReply(
        host, replies, complete=True, agent_version=__version__, runner_query=engine.query
    )
