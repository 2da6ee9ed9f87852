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

import sys

from .. import __version__
from ..engine.jobhost import HostTrouble
from ..engine.protocol import JobReply, JobRequest, RunnerGrant
from ..platforms.model import Platform
from .agent_reply import AgentReply

TYPE_CHECKING = False  # importing typing costs a one-shot command's start: names for mypy only
if TYPE_CHECKING:
    from typing import Any, NoReturn

    from ..engine.verbs import Engine


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
    replies: dict[str, JobReply] = {}
    engine = _engine(platform, verb, grant)
    try:
        for reply in engine.run(jobs):
            replies[reply.job] = reply
    except HostTrouble as exc:
        return AgentReply(host, replies, unreachable=exc.unreachable, error=str(exc))
    return AgentReply(
        host, replies, complete=True, agent_version=__version__, runner_query=engine.query
    )


def _engine(platform: Platform, verb: str, grant: RunnerGrant | None) -> Engine:
    from ..agent.jobdirs import expand_root
    from ..agent.local_host import LocalJobHost
    from ..engine.verbs import Engine
    from ..engine.verbs import runner_options as engine_options

    return Engine(
        LocalJobHost(expand_root(platform.run_root)),
        verb,
        engine_options(runner_options(platform)),
        grant,
    )


def call_detached(platform: Platform, host: str, verb: str, jobs: list[JobRequest]) -> AgentReply:
    """``call_in_process`` in a forked child of this process that outlives it.

    A submit or kill, once begun, must run to its end, as an agent's does
    when the controller dies: a job launched must get its runner id in its
    status file, a TERM must get its KILL after the grace. The command's own
    process can be interrupted or SIGKILLed at any point (ecFlow's timeout,
    Ctrl-C); the child, in a session of its own, carries on, writes to the
    job dirs what the engine writes, and exits. Its replies come back over
    a pipe as the agent's reply lines. A fork costs a few milliseconds, page
    copies included (nothing is imported or started again). No runner grant:
    submit and kill query no runner under the polling budget.
    """
    import os

    engine = _engine(platform, verb, None)
    for stream in (sys.stdout, sys.stderr):  # nothing buffered is written twice
        stream.flush()
    read_end, write_end = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - the forked child; never returns
        os.close(read_end)
        _run_child(engine, jobs, write_end)
    os.close(write_end)
    with os.fdopen(read_end, "r", encoding="utf-8", errors="replace") as lines:
        text = lines.read()
    os.waitpid(child, 0)
    return _reply_of(host, text)


def _run_child(engine: Engine, jobs: list[JobRequest], out: int) -> NoReturn:  # pragma: no cover
    """The engine's call, each reply a line on ``out``; never returns."""
    import gc
    import json
    import os
    import signal

    # A collection would write to every object's header and so copy every
    # page shared with the parent (20-30 ms): this short life needs none.
    gc.disable()
    os.setsid()  # neither the terminal's Ctrl-C nor the command's end reaches it
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    # The command's stdout and stderr are not kept open: whoever reads them
    # (ecFlow, a pipe) sees their end when the command ends, not this child's.
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    os.close(null)
    broken = False

    def say(kind: str, text: str) -> None:
        nonlocal broken
        if broken:
            return
        try:
            os.write(out, f"{kind} {text}\n".encode("utf-8", "surrogateescape"))
        except OSError:  # the command is gone: the work goes on without a reader
            broken = True

    code = 0
    try:
        for reply in engine.run(jobs):
            say(_REPLY, reply.to_json())
        say(_END, "")
    except HostTrouble as exc:
        say(_TROUBLE, json.dumps({"error": str(exc), "unreachable": exc.unreachable}))
    except BaseException as exc:  # said to the parent, which decides
        say(_TROUBLE, json.dumps({"error": f"the engine failed: {exc!r}", "unreachable": False}))
        code = 1
    finally:
        os._exit(code)


_REPLY, _END, _TROUBLE = "R", "E", "T"  # a reply line, the end, a trouble that ended it


def _reply_of(host: str, text: str) -> AgentReply:
    """The child's lines as the call's reply; incomplete when it ended early."""
    import json

    from ..engine.protocol import decode_reply_line

    replies: dict[str, JobReply] = {}
    for line in text.splitlines():
        kind, _, body = line.partition(" ")
        if kind == _REPLY:
            reply = decode_reply_line(body)
            if isinstance(reply, JobReply):
                replies[reply.job] = reply
        elif kind == _TROUBLE:
            trouble = json.loads(body)
            return AgentReply(
                host, replies, unreachable=bool(trouble["unreachable"]), error=str(trouble["error"])
            )
        elif kind == _END:
            return AgentReply(host, replies, complete=True, agent_version=__version__)
    return AgentReply(host, replies, error="the engine's process ended before its answer")
