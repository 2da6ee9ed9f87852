"""SSH-free job management: the runner runs here, the host only ever sees rsync.

For a platform with ``transport = "ssh-free"`` the controller does the agent's
work itself (docs/ssh-free.md):

- submit: assemble each job's files in a local staging dir (paths as they
  will be on the host), push all of them in ONE rsync, then submit each job
  with the local runner (``sbatch --clusters``), the job script on stdin;
- poll: ONE rsync pull of every job's ``job.status``, ONE runner query for
  the ids the files do not settle (a second pull only for ids the runner no
  longer knows);
- kill: one pull (to skip jobs that already ended), then the local runner's
  kill.

Replies are the agent's reply lines (``JobReply``), so the controller
reconciles them the same way. The runner id lives in the controller's ledger
only: ``job.status`` on the host is never written after the first push, since
the running wrapper appends to it there and a push would drop its lines.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from .. import __version__
from ..agent.jobdirs import JobDirError, check_job_dir_text
from ..agent.protocol import JobReply, JobRequest
from ..agent.verbs import directives, info_dict
from ..jobscript.assemble import JobSpec, assemble, write_job_files
from ..platforms.model import Platform
from ..runners.base import (
    BatchRunner,
    KillTarget,
    RunnerJobInfo,
    RunnerOptions,
    RunnerState,
    SubmitRequest,
)
from ..runners.execute import run_command
from ..runners.registry import RunnerLoadError, runner_class
from ..status import keys
from ..status.facts import StatusFacts, facts_dict
from ..status.reader import append_lines, read_status_file
from ..transport.base import CommandOutcome, Transport
from .agentcall import AgentReply

VERSION = f"ssh-free-{__version__}"
SUBMITS_IN_FLIGHT = 4  # runner submit commands at once (each waits mostly on the scheduler)
#: Directives every SSH-free job gets, per runner, before the runner's own
#: (so a user's raw directive still wins). The job dir exists only on the host,
#: so the runner must not default to the submitting process's cwd; and the
#: controller's environment means nothing there.
SSH_FREE_DIRECTIVES: dict[str, tuple[str, ...]] = {
    "slurm": ("--chdir={dir}", "--export=NONE"),
}


class SshFreeError(Exception):
    """A platform that cannot work SSH-free (relative run root, unsupported runner)."""


@dataclass
class Slot:
    """One job of the request while the caller works on it."""

    req: JobRequest
    error: str | None = None
    facts: StatusFacts | None = None
    info: RunnerJobInfo | None = None
    runner_error: str | None = None
    runner_id: str | None = None
    kill_detail: str | None = None


class SshFreeCaller:
    """A ``HostCaller`` for ``transport = "ssh-free"`` platforms."""

    def __init__(self, platform: Platform, transport: Transport, home: Path) -> None:
        if not platform.run_root.startswith("/"):
            raise SshFreeError(
                f"transport 'ssh-free' needs an absolute run_root, not {platform.run_root!r}"
            )
        try:
            cls = runner_class(platform.runner)
        except RunnerLoadError as exc:
            raise SshFreeError(str(exc)) from exc
        if platform.runner not in SSH_FREE_DIRECTIVES or not issubclass(cls, BatchRunner):
            known = ", ".join(sorted(SSH_FREE_DIRECTIVES))
            raise SshFreeError(
                f"transport 'ssh-free' works with the runner(s) {known}, not {platform.runner!r}"
            )
        self.platform = platform
        self.transport = transport
        self.root = platform.run_root.rstrip("/") or "/"
        self.runner: BatchRunner = cls(
            RunnerOptions(
                cluster=platform.cluster,
                command_timeout=platform.command_timeout,
                command_prefix=tuple(platform.runner_prefix),
            )
        )
        self.work = home / "sshfree" / re.sub(r"[^A-Za-z0-9_.-]", "_", platform.name)
        self.installs = 0  # HostCaller: nothing is ever installed on the host

    async def close(self) -> None:
        """HostCaller: nothing is kept running on the host."""

    async def call(
        self, host: str, verb: str, jobs: list[JobRequest], timeout: float
    ) -> AgentReply:
        slots = [Slot(req) for req in jobs]
        for slot in slots:
            try:
                check_job_dir_text(slot.req.dir)
            except JobDirError as exc:
                slot.error = str(exc)
        self.work.mkdir(parents=True, exist_ok=True, mode=0o700)
        if verb == "submit":
            failed = await self._submit(host, slots, timeout)
        elif verb == "poll":
            failed = await self._poll(host, slots, timeout)
        elif verb == "kill":
            failed = await self._kill(host, slots, timeout)
        else:
            return AgentReply(host, error=f"unknown verb {verb!r}")
        if failed is not None:
            return failed
        replies = {slot.req.job: _line(slot, verb) for slot in slots}
        return AgentReply(host, replies, complete=True, agent_version=VERSION)

    # -- submit ------------------------------------------------------------
    async def _submit(self, host: str, slots: list[Slot], timeout: float) -> AgentReply | None:
        stage = Path(tempfile.mkdtemp(prefix="submit-", dir=self.work))
        try:
            texts: dict[int, str] = {}
            for slot in slots:
                if slot.error is None:
                    try:
                        texts[id(slot)] = self._stage(stage, slot)
                    except (OSError, ValueError, TypeError) as exc:
                        slot.error = f"submit: {type(exc).__name__}: {exc}"
            ready = [slot for slot in slots if id(slot) in texts]
            if not ready:
                return None
            names = (keys.JOB_FILE, keys.SCRIPT_FILE, keys.STATUS_FILE)
            paths = [f"{slot.req.dir}/{name}" for slot in ready for name in names]
            pushed = await self.transport.push(host, stage, paths, self.root, timeout=timeout)
            if pushed.unreachable:
                return AgentReply(host, unreachable=True, error=pushed.describe())
            if not pushed.ok:
                for slot in ready:
                    slot.error = f"pushing the job files to {host} failed: {pushed.describe()}"
                return None
            slots_free = asyncio.Semaphore(SUBMITS_IN_FLIGHT)

            async def submit(slot: Slot) -> None:
                async with slots_free:
                    await self._submit_one(slot, texts[id(slot)])

            await asyncio.gather(*(submit(slot) for slot in ready))
            return None
        finally:
            shutil.rmtree(stage, ignore_errors=True)

    def _stage(self, stage: Path, slot: Slot) -> str:
        """Write the job's three files under ``stage``; return the job file's text."""
        req = slot.req
        job_dir = f"{self.root}/{req.dir}"
        header = self.runner.header_lines(directives(req.directives), job_dir)
        prefix = self.runner.directive_prefix
        ours = [f"{prefix} {d.format(dir=job_dir)}" for d in SSH_FREE_DIRECTIVES[self.runner.name]]
        spec = JobSpec(
            job_ref=req.job,
            name=req.name,
            job_dir=job_dir,
            runner_header=ours + header,
            env=req.env,
        )
        text = assemble(spec)
        local = stage / req.dir
        local.mkdir(parents=True, mode=0o700)
        write_job_files(str(local), text, req.script)
        status = str(local / keys.STATUS_FILE)
        append_lines(
            status,
            [
                (keys.VERSION, keys.FORMAT_VERSION),
                (keys.RUNNER_NAME, self.runner.name),
                (keys.SUBMIT_TIME, _utc_now()),
            ],
        )
        slot.facts = read_status_file(status)
        return text

    async def _submit_one(self, slot: Slot, text: str) -> None:
        job_dir = f"{self.root}/{slot.req.dir}"
        job_file = f"{job_dir}/{keys.JOB_FILE}"
        argv = self.runner.submit_command(SubmitRequest(job_dir, job_file, text))
        if not argv or argv[-1] != job_file:
            slot.error = f"runner {self.runner.name!r} cannot take its job script on stdin"
            return
        # The file is on the host only: the runner reads the script on stdin
        # (sbatch does when no file is named); "/" is a cwd any user can enter.
        result = await asyncio.to_thread(
            run_command,
            argv[:-1],
            stdin=text,
            cwd="/",
            timeout=self.runner.options.command_timeout,
        )
        runner_id = self.runner.parse_submit(result.stdout) if result.ok else None
        if runner_id is None:
            why = result.describe() if not result.ok else f"no job id in {result.stdout[:200]!r}"
            slot.error = f"submit: {why}"
            return
        slot.runner_id = runner_id
        if slot.facts is not None:
            slot.facts = replace(slot.facts, runner_id=runner_id)

    # -- poll ----------------------------------------------------------------
    async def _poll(self, host: str, slots: list[Slot], timeout: float) -> AgentReply | None:
        failed = await self._pull_status(host, slots, timeout)
        if failed is not None:
            if failed.unreachable:
                return AgentReply(host, unreachable=True, error=failed.describe())
            for slot in slots:
                if slot.error is None:
                    slot.error = f"pulling job.status from {host} failed: {failed.describe()}"
            return None
        asks = [s for s in slots if s.error is None and _unsettled(s)]
        if not asks:
            return None
        ids = sorted({s.runner_id for s in asks if s.runner_id})
        answer = await asyncio.to_thread(self.runner.poll, ids, run_command)
        if answer.error:
            for slot in asks:
                slot.runner_error = answer.error
            return None
        gone = []
        for slot in asks:
            assert slot.runner_id is not None
            info = answer.jobs.get(slot.runner_id) or RunnerJobInfo(
                slot.runner_id, RunnerState.GONE
            )
            slot.info = info
            if info.state.ended:
                gone.append(slot)
        if gone:
            # Second look: the job may have written its exit (or a requeued run
            # its new start and exit) between the pull and the runner's answer.
            # If this pull fails, the first look stands.
            await self._pull_status(host, gone, timeout)
        return None

    async def _pull_status(
        self, host: str, slots: Sequence[Slot], timeout: float
    ) -> CommandOutcome | None:
        """One rsync of every asked job's ``job.status``; sets each slot's facts.

        Returns the failed rsync's outcome (the slots are left as they were).
        """
        wanted = [s for s in slots if s.error is None]
        if not wanted:
            return None
        mirror = Path(tempfile.mkdtemp(prefix="pull-", dir=self.work))
        try:
            rels = [f"{s.req.dir}/{keys.STATUS_FILE}" for s in wanted]
            pulled = await self.transport.pull(host, self.root, rels, mirror, timeout=timeout)
            if not pulled.ok:
                return pulled
            for slot in wanted:
                facts = _read_mirrored(mirror, slot.req.dir)
                slot.runner_id = facts.runner_id or slot.req.runner_id or None
                slot.facts = replace(facts, runner_id=slot.runner_id)
            return None
        finally:
            shutil.rmtree(mirror, ignore_errors=True)

    # -- kill ----------------------------------------------------------------
    async def _kill(self, host: str, slots: list[Slot], timeout: float) -> AgentReply | None:
        if await self._pull_status(host, slots, timeout) is not None:
            # The host's files are out of reach, the runner is not: kill by the
            # ledger's ids; the reply then carries no status (the next poll reads it).
            for slot in slots:
                slot.runner_id = slot.req.runner_id or None
        targets: list[Slot] = []
        for slot in slots:
            if slot.error is not None:
                continue
            if slot.facts is not None and slot.facts.finished:
                slot.kill_detail = "already finished"
            elif not slot.runner_id:
                slot.error = "not submitted (no runner id known): nothing to kill"
            else:
                targets.append(slot)
        if targets:
            outcomes = await asyncio.to_thread(
                self.runner.kill,
                [KillTarget(s.runner_id or "", None, "") for s in targets],
                run_command,
            )
            for slot, outcome in zip(targets, outcomes, strict=True):
                if outcome.ok:
                    slot.kill_detail = outcome.detail or "killed"
                else:
                    slot.error = f"kill failed: {outcome.detail}"
        return None


def _unsettled(slot: Slot) -> bool:
    return slot.facts is not None and not slot.facts.finished and bool(slot.runner_id)


def _read_mirrored(mirror: Path, rel_dir: str) -> StatusFacts:
    """Read a pulled status file; a symlink (rsync -l copies links as links) is refused."""
    path = mirror / rel_dir / keys.STATUS_FILE
    if not os.path.lexists(path):
        return StatusFacts(exists=False)
    real = os.path.realpath(path)
    if path.is_symlink() or not real.startswith(f"{os.path.realpath(mirror)}/"):
        return StatusFacts(exists=True, problems=("job.status on the host is a symlink: not read",))
    return read_status_file(str(path))


def _line(slot: Slot, verb: str) -> dict[str, Any]:
    """The agent's reply line for this job (docs/protocol.md)."""
    status = facts_dict(slot.facts) if slot.facts is not None else None
    reply = JobReply(
        job=slot.req.job,
        dir=slot.req.dir,
        verb=verb,
        error=slot.error,
        status=status,
        runner=info_dict(slot.info) if slot.info is not None else None,
        runner_error=slot.runner_error,
        runner_id=slot.runner_id,
        kill_detail=slot.kill_detail,
    )
    data: dict[str, Any] = json.loads(reply.to_json())
    return data


def _utc_now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
