"""One agent call per batch: build the request, run it, read the reply lines.

Also installs the agent on an install target the first time a call finds it
missing (once per install target: hosts sharing a filesystem share it).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from ..agent.build import build_zipapp
from ..agent.protocol import (
    JobRequest,
    ProtocolError,
    Request,
    parse_reply_line,
)
from ..platforms.model import Platform, TransportKind
from ..transport.base import Transport

AGENT_DIR = ".jobrelay"  # under the run root on each install target
MISSING_AGENT_MARKERS = ("can't open file", "No such file or directory")


@dataclass(frozen=True)
class AgentReply:
    """What came back from one agent call."""

    host: str
    replies: dict[str, dict[str, Any]] = field(default_factory=dict)  # job ref -> line
    complete: bool = False  # the closing line arrived
    unreachable: bool = False  # the host could not be reached (ssh 255, timeout)
    error: str | None = None  # why the call as a whole failed
    agent_version: str | None = None


class HostCaller(Protocol):
    """One batch call for one verb on one host, answered as agent reply lines.

    ``AgentCaller`` runs the agent on the host; the SSH-free caller does the
    same work from the controller with rsync and the local runner.
    """

    installs: int

    async def call(
        self, host: str, verb: str, jobs: list[JobRequest], timeout: float
    ) -> AgentReply: ...


class AgentCaller:
    """Runs the agent for one platform through its transport."""

    def __init__(self, platform: Platform, transport: Transport, home: Path) -> None:
        self.platform = platform
        self.transport = transport
        self.home = home
        self._agent: Path | None = None
        self.installs = 0  # how many times this caller installed the agent (tests, logs)

    @property
    def agent_file(self) -> Path:
        if self._agent is None:
            self._agent = build_zipapp(self.home / "agent")
        return self._agent

    def agent_argv(self) -> list[str]:
        if self.platform.transport is TransportKind.LOCAL:
            # -S: no site-packages scan; the zipapp carries what it needs.
            return [sys.executable, "-S", str(self.agent_file)]
        remote = f"{self.platform.run_root.rstrip('/')}/{AGENT_DIR}/{self.agent_file.name}"
        return [*self.platform.python, "-S", remote]

    async def call(
        self, host: str, verb: str, jobs: list[JobRequest], timeout: float
    ) -> AgentReply:
        request = Request(
            verb=verb,
            run_root=self.platform.run_root,
            jobs=jobs,
            runner_options=runner_options(self.platform),
        )
        payload = request.to_json().encode()
        outcome = await self.transport.run(host, self.agent_argv(), stdin=payload, timeout=timeout)
        if (
            self.platform.transport is not TransportKind.LOCAL
            and outcome.returncode == 2
            and any(m in outcome.stderr for m in MISSING_AGENT_MARKERS)
        ):
            installed = await self.install(host, timeout)
            if installed is not None:
                return AgentReply(host, unreachable=installed.unreachable, error=installed.error)
            outcome = await self.transport.run(
                host, self.agent_argv(), stdin=payload, timeout=timeout
            )
        reply = parse_lines(host, outcome.stdout)
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
        return reply

    async def install(self, host: str, timeout: float) -> AgentReply | None:
        """Put the agent file on the install target; None when it worked."""
        agent = self.agent_file
        remote_dir = f"{self.platform.run_root.rstrip('/')}/{AGENT_DIR}"
        # rsync makes only the last directory of its destination: a fresh run
        # root (e.g. ~/a/b) needs its parents first.
        made = await self.transport.run(host, ["mkdir", "-p", "--", remote_dir], timeout=timeout)
        if made.unreachable:
            return AgentReply(host, unreachable=True, error=made.stderr.strip()[-300:])
        outcome = await self.transport.push(
            host, agent.parent, [agent.name], remote_dir, timeout=timeout
        )
        if outcome.returncode != 0:
            return AgentReply(
                host,
                unreachable=outcome.unreachable,
                error=f"installing the agent on {host} failed: {outcome.stderr.strip()[-300:]}",
            )
        self.installs += 1
        return None


def runner_options(platform: Platform) -> dict[str, Any]:
    """The RunnerOptions fields the agent gets for this platform."""
    # A runner command gets half the call's time: a hung squeue is timed out
    # and reported by the agent, not mistaken for an unreachable host.
    options: dict[str, Any] = {"command_timeout": platform.command_timeout / 2}
    if platform.cluster:
        options["cluster"] = platform.cluster
    if platform.runner_prefix:
        options["command_prefix"] = list(platform.runner_prefix)
    return options


def parse_lines(host: str, stdout: bytes) -> AgentReply:
    replies: dict[str, dict[str, Any]] = {}
    complete = False
    version = None
    errors: list[str] = []
    for raw in stdout.decode("utf-8", "replace").splitlines():
        if not raw.strip():
            continue
        try:
            line = parse_reply_line(raw)
        except ProtocolError as exc:
            errors.append(str(exc))
            continue
        if line.get("end"):
            complete = True
            version = str(line.get("agent_version"))
        elif isinstance(line.get("job"), str):
            replies[line["job"]] = line
    return AgentReply(
        host,
        replies,
        complete=complete,
        agent_version=version,
        error="; ".join(errors[:3]) or None,
    )
