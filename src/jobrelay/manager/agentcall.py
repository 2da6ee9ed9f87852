"""One agent call per batch: build the request, run it, read the reply lines.

Also installs the agent on an install target the first time a call finds it
missing (once per install target: hosts sharing a filesystem share it). From
the second poll or kill to a host on, the call goes to an agent session kept
running there (``serving_agent.py``) instead of a new agent process.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Protocol

from .. import __version__
from ..engine.protocol import (
    EndLine,
    JobReply,
    JobRequest,
    ProtocolError,
    Request,
    RunnerGrant,
    decode_reply_line,
)
from ..platforms.model import Platform
from ..transport.base import Transport
from ..zipapps import build_agent
from .agent_reply import AgentReply
from .in_process import runner_options
from .install import AGENT_DIR, Installer, runs_of
from .serving_agent import ServingAgent

MISSING_AGENT_MARKERS = ("can't open file", "No such file or directory")
SESSION_VERBS = ("poll", "kill")  # safe to repeat one-shot if a session dies mid-answer


class HostCaller(Protocol):
    """One batch call for one verb on one host, answered as agent reply lines.

    ``AgentCaller`` runs the agent on the host; the SSH-free caller does the
    same work from the controller with rsync and the local runner.
    """

    installs: int

    async def call(
        self,
        host: str,
        verb: str,
        jobs: list[JobRequest],
        timeout: float,
        grant: RunnerGrant | None = None,
    ) -> AgentReply: ...

    async def close(self) -> None: ...


class AgentCaller:
    """Runs the agent for one platform through its transport."""

    def __init__(self, platform: Platform, transport: Transport, home: Path) -> None:
        self.platform = platform
        self.transport = transport
        self.home = home
        self._agent: Path | None = None
        self.installs = 0  # how many times this caller installed the agent (tests, logs)
        self.installer = Installer(platform, transport, home, lambda: self.agent_file)
        self.sessions: dict[str, ServingAgent] = {}  # host -> its serving agent
        self._answered: set[str] = set()  # hosts where a one-shot poll or kill was answered

    @property
    def agent_file(self) -> Path:
        if self._agent is None:
            self._agent = build_agent(self.home / "agent")
        return self._agent

    def agent_argv(self) -> list[str]:
        if self.transport.local_files:
            # -S: no site-packages scan; the zipapp carries what it needs.
            return [sys.executable, "-S", str(self.agent_file)]
        remote = f"{self.platform.run_root.rstrip('/')}/{AGENT_DIR}/{self.agent_file.name}"
        return [*self.platform.python, "-S", remote]

    async def call(
        self,
        host: str,
        verb: str,
        jobs: list[JobRequest],
        timeout: float,
        grant: RunnerGrant | None = None,
    ) -> AgentReply:
        request = Request(
            verb=verb,
            run_root=self.platform.run_root,
            jobs=jobs,
            runner_options=runner_options(self.platform),
            runner_grant=grant,
        )
        payload = request.to_json().encode()
        remote = not self.transport.local_files
        runs = runs_of([job.dir for job in jobs]) if verb == "submit" else []
        if remote and self.installer.needed(runs):
            # first contact of this controller home with the target (or a new run)
            done, failed = await self.installer.ensure(host, runs, timeout)
            if failed is not None:
                return AgentReply(
                    host, unreachable=failed.unreachable, error=failed.error, not_started=True
                )
            self.installs += done
        if verb in SESSION_VERBS and not runs:
            served = await self._by_session(host, payload, timeout)
            if served is not None:
                return served
        outcome = await self.transport.run(host, self.agent_argv(), stdin=payload, timeout=timeout)
        if (
            remote
            and outcome.returncode == 2
            and any(m in outcome.stderr for m in MISSING_AGENT_MARKERS)
        ):
            # installed by our record, not on the target (removed, or another agent build)
            not_installed = await self.install(host, timeout, runs)
            if not_installed is not None:
                return not_installed
            outcome = await self.transport.run(
                host, self.agent_argv(), stdin=payload, timeout=timeout
            )
        reply = parse_lines(host, outcome.stdout)
        if remote and reply.complete and reply.agent_version != __version__:
            # the file under our build's name holds another agent: install again next call
            self.installer.record.forget(self.installer.key)
        if outcome.unreachable:
            return AgentReply(
                host,
                reply.replies,
                complete=False,
                unreachable=True,
                error=outcome.stderr.strip()[-300:] or "unreachable",
            )
        if not reply.complete:
            why = "timed out" if outcome.timed_out else f"exit {outcome.returncode}"
            err = outcome.stderr.strip()[-500:]
            return AgentReply(
                host,
                reply.replies,
                complete=False,
                error=f"agent on {host} {why}: {err or reply.error or 'no closing line'}",
            )
        if verb in SESSION_VERBS:
            self._answered.add(host)
        return reply

    async def _by_session(self, host: str, payload: bytes, timeout: float) -> AgentReply | None:
        """The reply through ``host``'s session; None: make a one-shot call instead."""
        if host not in self._answered:
            return None  # a first call is one-shot: it proves the install and the master
        session = self.sessions.get(host)
        if session is not None and not session.usable:
            await self._end_session(host)
            session = None
        if session is None:
            proc = await self.transport.spawn(host, [*self.agent_argv(), "--serve"])
            if proc is None:
                return None
            session = self.sessions[host] = ServingAgent(proc)
        if session.busy:
            return None  # another batch to this host is in it: this one goes one-shot
        session.busy = True
        try:
            answer = await session.ask(payload, timeout)
        finally:
            session.busy = False
        if answer.timed_out:
            await self._end_session(host)
            return AgentReply(
                host,
                parse_lines(host, answer.stdout).replies,
                unreachable=not answer.stdout,  # as a one-shot call timing out in silence
                error=f"agent session on {host} timed out after {timeout:g} s: {answer.stderr}",
            )
        if not answer.complete:
            # It died (ssh dropped, agent replaced, host rebooted): poll and kill
            # are safe to repeat, and the one-shot path knows how to recover.
            await self._end_session(host)
            return None
        reply = parse_lines(host, answer.stdout)
        if reply.agent_version != __version__:
            await self._end_session(host)
            self.installer.record.forget(self.installer.key)
        return reply

    async def _end_session(self, host: str) -> None:
        session = self.sessions.pop(host, None)
        if session is not None:
            await session.close()

    async def close(self) -> None:
        """End every session (before the transport closes its connections)."""
        for host in list(self.sessions):
            await self._end_session(host)

    async def install(
        self, host: str, timeout: float, runs: list[str] | None = None
    ) -> AgentReply | None:
        """Remote init of the install target through ``host``; None when it worked."""
        failed = await self.installer.install(host, runs or [], timeout)
        if failed is not None:
            return AgentReply(
                host, unreachable=failed.unreachable, error=failed.error, not_started=True
            )
        self.installs += 1
        return None


def parse_lines(host: str, stdout: str) -> AgentReply:
    """The agent's output, each line decoded once into its type."""
    replies: dict[str, JobReply] = {}
    end: EndLine | None = None
    errors: list[str] = []
    for raw in stdout.splitlines():
        if not raw.strip():
            continue
        try:
            line = decode_reply_line(raw)
        except ProtocolError as exc:
            errors.append(str(exc))
            continue
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
