"""The controller: batches jobs per host, picks hosts, reconciles agent reports.

Every public method takes and returns ledger records; the ledger is updated
once per agent reply batch, in one transaction.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from ..engine.protocol import JobRequest, RunnerGrant
from ..ledger.records import JobRecord, JobUpdate
from ..ledger.store import Ledger
from ..platforms.connect import transport_for
from ..platforms.model import Platform
from ..platforms.selection import HostPicker, first_answer
from ..runners.registry import RunnerLoadError, runner_class
from ..states import JobState
from ..transport.base import Transport
from .agent_reply import AgentReply, after_tries, cut_short
from .agentcall import AgentCaller, HostCaller
from .budget import (
    ConnectionBudget,
    RunnerBudget,
    SharedWindow,
    backoff,
    endpoint_of,
    query_rate,
    submit_rate,
)
from .judge import Look
from .quiet import PollRequests, QuietJobs
from .recording import job_request, record_reply
from .stamps import StatusStamps
from .submit_item import SubmitItem as SubmitItem
from .submitting import ControllerError as ControllerError
from .submitting import create_jobs, record_submit, submit_requests

Progress = Callable[[int], None]  # called with how many jobs just got an answer
CONCURRENT_CALLS = 4  # agent calls in flight per controller


class Controller:
    def __init__(self, home: Path, platforms: dict[str, Platform], ledger: Ledger) -> None:
        self.home = home
        self.platforms = platforms
        self.ledger = ledger
        self._transports: dict[str, Transport] = {}
        self._callers: dict[str, HostCaller] = {}
        self._slots = asyncio.Semaphore(CONCURRENT_CALLS)
        self.stamps = StatusStamps()
        self.quiet = QuietJobs()  # polls that brought back what the last one did
        self.poll_requests = PollRequests(self._request, self.stamps)
        self.budgets: dict[str, RunnerBudget] = {}  # endpoint -> its runner query budget
        #: job id -> what its last kill found (the engine's word: how it was verified)
        self.kill_details: dict[int, str] = {}
        #: called with each job's look of a poll or kill (the status command shows it)
        self.observe: Callable[[int, Look], None] | None = None

    # -- plumbing ---------------------------------------------------------
    def platform(self, name: str) -> Platform:
        try:
            return self.platforms[name]
        except KeyError:
            known = ", ".join(sorted(self.platforms)) or "none"
            raise ControllerError(f"unknown platform {name!r} (configured: {known})") from None

    def transport(self, platform: Platform) -> Transport:
        if platform.name not in self._transports:
            admit = ConnectionBudget(self.home, platform.ssh_connections).admit
            self._transports[platform.name] = transport_for(platform, admit)
        return self._transports[platform.name]

    def budget(self, platform: Platform, where: str) -> RunnerBudget:
        """The runner query budget of the endpoint a batch's runner query goes to."""
        endpoint = endpoint_of(platform, where)
        if endpoint not in self.budgets:
            call = platform.command_timeout
            rate = query_rate(platform)
            self.budgets[endpoint] = RunnerBudget(self.home, endpoint, platform.runner, rate, call)
        return self.budgets[endpoint]

    def caller(self, platform: Platform) -> HostCaller:
        if platform.name not in self._callers:
            self._callers[platform.name] = make_caller(
                platform, self.transport(platform), self.home
            )
        return self._callers[platform.name]

    def picker(self, platform: Platform) -> HostPicker:
        return HostPicker(platform, self.home / "bad-hosts.json")

    def _reread(self, jobs: list[JobRecord]) -> list[JobRecord]:
        """The jobs as the ledger holds them now, in the given order (one query)."""
        fresh = {job.id: job for job in self.ledger.find(ids=[job.id for job in jobs])}
        return [fresh[job.id] for job in jobs]

    async def close(self) -> None:
        for caller in self._callers.values():
            await caller.close()  # agent sessions first: they ride the connections
        for transport in self._transports.values():
            await transport.close()

    async def _call(
        self,
        platform: Platform,
        hosts: Sequence[str],
        verb: str,
        jobs: list[JobRequest],
        grant: RunnerGrant | None = None,
    ) -> AgentReply:
        """Try ``hosts`` in order until one answers; remember the unreachable ones."""
        caller = self.caller(platform)

        # a kill waits on the host until its jobs are verified gone
        timeout = platform.command_timeout
        if verb == "kill":
            timeout += platform.kill_timeout

        tries: list[AgentReply] = []

        async def attempt(host: str) -> AgentReply:
            if grant is None:
                reply = await caller.call(host, verb, jobs, timeout=timeout)
            else:
                reply = await caller.call(host, verb, jobs, timeout=timeout, grant=grant)
            tries.append(reply)
            return reply

        def unreachable(reply: AgentReply) -> str | None:
            if reply.unreachable and not reply.replies:
                return reply.error or "unreachable"
            return None

        async with self._slots:
            reply = await first_answer(self.picker(platform), hosts, attempt, unreachable)
        return after_tries(reply, any(cut_short(t) for t in tries[:-1]))

    def _request(self, job: JobRecord) -> JobRequest:
        return job_request(self.ledger, job)

    # -- submit -----------------------------------------------------------
    async def submit(
        self,
        items: Sequence[SubmitItem],
        platform_name: str,
        run: str,
        progress: Progress | None = None,
    ) -> list[JobRecord]:
        platform = self.platform(platform_name)
        records, texts = create_jobs(self.ledger, platform, items, run)
        rate = submit_rate(platform)
        size = platform.max_batch if rate.unlimited else min(platform.max_batch, rate.count)
        batches = _chunks(records, size)
        done = await asyncio.gather(
            *(self._submit_batch(platform, batch, texts, progress) for batch in batches)
        )
        return [job for batch in done for job in batch]

    async def _submit_batch(
        self,
        platform: Platform,
        batch: list[JobRecord],
        texts: dict[int, str],
        progress: Progress | None,
    ) -> list[JobRecord]:
        requests = submit_requests(self.ledger, batch, texts)
        # the platform's submit rate, counted by every process of the user
        await SharedWindow(self.home, f"submit@{platform.name}", submit_rate(platform)).take(
            len(batch)
        )
        reply, cut = AgentReply("?", unreachable=True), False
        for attempt in range(platform.submit_retry_budget + 1):
            reply = after_tries(
                await self._call(platform, self.picker(platform).candidates(), "submit", requests),
                cut,
            )
            cut = cut or cut_short(reply)
            if not (reply.unreachable and not reply.replies):
                break
            if attempt < platform.submit_retry_budget:  # no sleep after the last try
                await asyncio.sleep(backoff(attempt))
        jobs = record_submit(self.ledger, platform, batch, reply)
        if progress:
            progress(len(batch))
        return jobs

    # -- poll and kill ----------------------------------------------------
    async def poll(
        self, jobs: Iterable[JobRecord], progress: Progress | None = None
    ) -> list[JobRecord]:
        return await self._over_hosts("poll", list(jobs), progress)

    async def kill(
        self, jobs: Iterable[JobRecord], progress: Progress | None = None
    ) -> list[JobRecord]:
        wanted = [job for job in jobs if not job.state.is_final]
        self.ledger.mark_kill_requested([job.id for job in wanted], "kill requested by the user")
        fresh = [self.ledger.get(job.id) for job in wanted]
        return await self._over_hosts("kill", fresh, progress)

    async def _over_hosts(
        self, verb: str, jobs: list[JobRecord], progress: Progress | None
    ) -> list[JobRecord]:
        groups: dict[tuple[str, str], list[JobRecord]] = {}
        homeless: list[JobUpdate] = []
        for job in jobs:
            if job.state.is_final and verb == "poll" and job.state is not JobState.LOST:
                continue
            try:
                platform = self.platform(job.platform)
            except ControllerError as exc:
                # its own error; every other job is still asked about
                why = f"cannot {verb}: {exc}"
                homeless.append(JobUpdate(job.id, error=why, reason=why, expect_state=job.state))
                continue
            groups.setdefault(_group_key(platform, job), []).append(job)
        fresh: dict[int, JobRecord] = dict(self.ledger.apply(homeless).jobs) if homeless else {}
        calls = []
        for (platform_name, where), members in groups.items():
            platform = self.platform(platform_name)
            if verb == "poll":  # one runner query for all of this cycle's batches
                self.budget(platform, where).want(j.runner_id for j in members if j.runner_id)
            for batch in _chunks(members, platform.max_poll_batch):
                calls.append(self._visit(platform, where, verb, batch, progress))
        for visited in await asyncio.gather(*calls):
            fresh.update(visited)
        # Jobs not visited were final (and final states are never left): as given.
        return [fresh.get(job.id, job) for job in jobs]

    async def _visit(
        self,
        platform: Platform,
        where: str,
        verb: str,
        batch: list[JobRecord],
        progress: Progress | None,
    ) -> dict[int, JobRecord]:
        """One agent call for ``batch``; the batch's jobs as the ledger now holds them."""
        bound = where.startswith("host:")
        hosts = [where[5:]] if bound else self.picker(platform).candidates()
        if verb == "poll":
            requests = self.poll_requests.requests(batch)
        else:
            requests = [self._request(job) for job in batch]
        budget = self.budget(platform, where)
        grant, ticket = None, None
        if verb == "poll":
            grant, ticket = await budget.grant(job.runner_id for job in batch if job.runner_id)
        reply = AgentReply("?")
        try:
            reply = await self._call(platform, hosts, verb, requests, grant)
        finally:
            budget.settle(ticket, reply.runner_query, reply.complete)
        if verb == "kill":
            budget.forget(job.runner_id for job in batch if job.runner_id)
            for job in batch:
                line = reply.replies.get(job.ref)
                if line is not None and line.kill_detail:
                    self.kill_details[job.id] = line.kill_detail
        return record_reply(
            self.ledger,
            platform,
            verb,
            batch,
            reply,
            self.stamps,
            progress,
            self.observe,
            self.quiet,
        )


def make_caller(platform: Platform, transport: Transport, home: Path) -> HostCaller:
    """The way batches reach this platform's hosts."""
    if not transport.runs_agent:
        # here: the SSH-free caller (shutil, tempfile, the job script's assembly) only for it
        from .sshfree import SshFreeCaller, SshFreeError

        try:
            return SshFreeCaller(platform, transport, home)
        except SshFreeError as exc:
            raise ControllerError(f"platform {platform.name!r}: {exc}") from exc
    return AgentCaller(platform, transport, home)


def _group_key(platform: Platform, job: JobRecord) -> tuple[str, str]:
    try:
        bound = runner_class(job.runner).host_bound
    except RunnerLoadError:
        bound = False
    if bound and job.host:
        return platform.name, f"host:{job.host}"
    return platform.name, f"target:{job.install_target}"


def _chunks(jobs: list[JobRecord], size: int) -> list[list[JobRecord]]:
    size = max(1, size)
    return [jobs[i : i + size] for i in range(0, len(jobs), size)]
