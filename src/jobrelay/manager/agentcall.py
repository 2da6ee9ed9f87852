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
from ..engine.protocol import JobRequest, Request, RunnerGrant
from ..platforms.model import Platform
from ..transport.base import Transport
from ..zipapps import build_agent
from .agent_reply import AgentReply
from .in_process import runner_options
from .install import AGENT_DIR, Installer, runs_of
from .quiet import ReplyLines, RequestTexts
from .serving_agent import ServingAgent

MISSING_AGENT_MARKERS = ("can't open file", "No such file or directory")
SESSION_VERBS = ("poll", "kill")  # safe to repeat one-shot if a session dies mid-answer
#: sessions kept per host: a host's jobs go in batches of ``max_poll_batch``,
#: asked at once (the controller's CONCURRENT_CALLS bounds them too)
SESSIONS_PER_HOST = 4


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
        self.sessions: dict[str, list[ServingAgent]] = {}  # host -> its serving agents
        self._starting: dict[str, int] = {}  # host -> sessions being started
        self._answered: set[str] = set()  # hosts where a one-shot poll or kill was answered
        self.lines = ReplyLines()  # a line that came before is not decoded again
        self.texts = RequestTexts()  # nor a job's request encoded again

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
        payload = request.to_json(self.texts.encode(jobs)).encode()
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
        reply = self.lines.parse(host, outcome.stdout)
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
                not_started=outcome.never_connected,
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
        """The reply through one of ``host``'s sessions; None: make a one-shot call instead."""
        if host not in self._answered:
            return None  # a first call is one-shot: it proves the install and the master
        session = await self._free_session(host)
        if session is None:
            return None
        session.busy = True
        try:
            answer = await session.ask(payload, timeout)
        finally:
            session.busy = False
        if answer.timed_out:
            await self._end_session(host, session)
            return AgentReply(
                host,
                self.lines.parse(host, answer.stdout).replies,
                unreachable=not answer.stdout,  # as a one-shot call timing out in silence
                error=f"agent session on {host} timed out after {timeout:g} s: {answer.stderr}",
            )
        if not answer.complete:
            # It died (ssh dropped, agent replaced, host rebooted): poll and kill
            # are safe to repeat, and the one-shot path knows how to recover.
            await self._end_session(host, session)
            return None
        reply = self.lines.parse(host, answer.stdout)
        if reply.agent_version != __version__:
            await self._end_session(host, session)
            self.installer.record.forget(self.installer.key)
        return reply

    async def _free_session(self, host: str) -> ServingAgent | None:
        """An idle session to ``host``, started if there are fewer than
        ``SESSIONS_PER_HOST``; None when all are busy (or none can start)."""
        pool = self.sessions.setdefault(host, [])
        for dead in [s for s in pool if not s.usable]:
            await self._end_session(host, dead)
        idle = next((s for s in pool if not s.busy), None)
        if idle is not None:
            return idle
        if len(pool) + self._starting.get(host, 0) >= SESSIONS_PER_HOST:
            return None  # as many batches to this host in flight: this one goes one-shot
        self._starting[host] = self._starting.get(host, 0) + 1
        try:
            proc = await self.transport.spawn(host, [*self.agent_argv(), "--serve"])
        finally:
            self._starting[host] -= 1
        if proc is None:
            return None
        session = ServingAgent(proc)
        pool.append(session)
        return session

    async def _end_session(self, host: str, session: ServingAgent) -> None:
        pool = self.sessions.get(host, [])
        if session in pool:
            pool.remove(session)
        await session.close()

    async def close(self) -> None:
        """End every session (before the transport closes its connections)."""
        for host, pool in list(self.sessions.items()):
            for session in list(pool):
                await self._end_session(host, session)

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
