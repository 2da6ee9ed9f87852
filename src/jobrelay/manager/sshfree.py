"""SSH-free job management: the runner runs here, the host only ever sees rsync.

For a platform with ``transport = "ssh-free"`` the controller runs the
host-side engine itself (``engine/verbs.py``, the same code as the agent)
over a ``MirrorJobHost`` (docs/ssh-free.md):

- status files are read by ONE rsync pull per batch (a second one only for
  the jobs the runner says ended, as the agent reads twice);
- job files are written into a local staging dir (paths as they will be on
  the host) and sent by ONE rsync push per batch;
- runner commands run here (``sbatch --clusters``, the job script on stdin).

``job.status`` on the host is never written after the first push, since the
running wrapper appends to it there and a push would drop its lines. The
lines the engine adds later (runner id, runner forgot) are kept beside the
mirror, in ``$JOBRELAY_HOME/sshfree/<platform>/added/<job dir>/job.status``,
and read after the host's own lines.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import tempfile
from collections.abc import Awaitable, Coroutine, Sequence
from pathlib import Path
from typing import Any, TypeVar

from .. import __version__
from ..agent.jobdirs import JobDirError, check_job_dir_text
from ..engine.jobhost import HostTrouble, JobFiles, JobHost, Slot
from ..engine.protocol import JobReply, JobRequest, RunnerGrant
from ..engine.verbs import Engine
from ..host_dataclasses import replace
from ..jobscript.assemble import write_job_files
from ..platforms.model import Platform
from ..runners.base import BatchRunner, RunnerOptions
from ..runners.registry import BUILTIN, RunnerLoadError, runner_class
from ..status import keys
from ..status.facts import StatusFacts
from ..status.reader import append_lines, format_line, parse_status, read_status_file
from ..transport.base import Transport
from .agent_reply import AgentReply

VERSION = f"ssh-free-{__version__}"
T = TypeVar("T")


class SshFreeError(Exception):
    """A platform that cannot work SSH-free (relative run root, unsupported runner)."""


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
        if not (issubclass(cls, BatchRunner) and cls.remote_files_directives):
            raise SshFreeError(
                f"transport 'ssh-free' works with the runner(s) {', '.join(_able())},"
                f" not {platform.runner!r}"
            )
        self.platform = platform
        self.transport = transport
        self.root = platform.run_root.rstrip("/") or "/"
        self.options = RunnerOptions(
            cluster=platform.cluster,
            command_timeout=platform.command_timeout,
            command_prefix=tuple(platform.runner_prefix),
            kill_grace=platform.kill_grace,
            kill_timeout=platform.kill_timeout,
        )
        self.work = home / "sshfree" / re.sub(r"[^A-Za-z0-9_.-]", "_", platform.name)
        self.installs = 0  # HostCaller: nothing is ever installed on the host

    async def close(self) -> None:
        """HostCaller: nothing is kept running on the host."""

    async def call(
        self,
        host: str,
        verb: str,
        jobs: list[JobRequest],
        timeout: float,
        grant: RunnerGrant | None = None,
    ) -> AgentReply:
        self.work.mkdir(parents=True, exist_ok=True, mode=0o700)
        mirror = MirrorJobHost(self, host, asyncio.get_running_loop(), timeout)
        engine = Engine(mirror, verb, self.options, grant)

        def work() -> list[JobReply]:
            return list(engine.run(jobs))

        try:
            replies = await asyncio.to_thread(work)
        except HostTrouble as exc:
            return AgentReply(host, unreachable=exc.unreachable, error=exc.reason)
        return AgentReply(
            host,
            {r.job: r for r in replies},
            complete=True,
            agent_version=VERSION,
            runner_query=engine.query,
        )


class MirrorJobHost(JobHost):
    """Job dirs on a host reached by rsync only; runner commands run here.

    Used from a worker thread: file transfers are handed to the event loop.
    """

    def __init__(
        self, caller: SshFreeCaller, host: str, loop: asyncio.AbstractEventLoop, timeout: float
    ) -> None:
        self.caller = caller
        self.host = self.name = host
        self.loop = loop
        self.timeout = timeout
        self.added = caller.work / "added"
        self.host_lines: dict[str, bytes] = {}  # job dir -> its host file, as last pulled

    def runner_options(self, options: RunnerOptions) -> RunnerOptions:

        return replace(options, remote_files=True)

    def _wait(self, coro: Coroutine[Any, Any, T] | Awaitable[T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result()  # type: ignore[arg-type]

    def _added(self, slot: Slot, name: str = keys.STATUS_FILE) -> Path:
        return self.added / slot.req.dir / name

    def place(self, slots: Sequence[Slot]) -> None:
        for slot in slots:
            try:
                check_job_dir_text(slot.req.dir)
                slot.path = f"{self.caller.root}/{slot.req.dir}"
            except JobDirError as exc:
                slot.error = str(exc)

    def read_status(self, slots: Sequence[Slot], use_seen: bool = False) -> None:
        """One rsync of every slot's ``job.status``, each read with the lines added here."""
        if not slots:
            return
        mirror = Path(tempfile.mkdtemp(prefix="pull-", dir=self.caller.work))
        try:
            rels = [f"{s.req.dir}/{keys.STATUS_FILE}" for s in slots]
            pulled = self._wait(
                self.caller.transport.pull(
                    self.host, self.caller.root, rels, mirror, timeout=self.timeout
                )
            )
            if not pulled.ok:
                raise HostTrouble(
                    f"pulling job.status from {self.host} failed: {pulled.describe()}",
                    pulled.unreachable,
                )
            for slot in slots:
                slot.facts = self._read(slot, mirror)
        finally:
            shutil.rmtree(mirror, ignore_errors=True)

    def _read(self, slot: Slot, mirror: Path) -> StatusFacts:
        path = mirror / slot.req.dir / keys.STATUS_FILE
        if not os.path.lexists(path):
            self.host_lines.pop(slot.req.dir, None)
            # job dirs written before the added lines existed: the ledger's id
            return StatusFacts(exists=False, runner_id=slot.req.runner_id or None)
        real = os.path.realpath(path)
        if path.is_symlink() or not real.startswith(f"{os.path.realpath(mirror)}/"):
            # rsync -l copies links as links: never follow one out of the mirror
            problem = "job.status on the host is a symlink: not read"
            return StatusFacts(exists=True, problems=(problem,))
        added = self._added(slot)
        facts = read_status_file(str(path), added=added.read_bytes() if added.exists() else b"")
        self.host_lines[slot.req.dir] = path.read_bytes()
        if facts.runner_id is None and slot.req.runner_id:
            facts = replace(facts, runner_id=slot.req.runner_id)
        return facts

    def read_before_submit(self, slots: Sequence[Slot]) -> None:
        """What this controller added is enough: a submission that reached the
        runner has its id there, and a job dir is this ledger's alone. So a
        submit batch costs ONE rsync, its push."""
        for slot in slots:
            added = self._added(slot)
            data = added.read_bytes() if added.exists() else b""
            slot.facts = parse_status(data) if data else StatusFacts(exists=False)
            self.host_lines.pop(slot.req.dir, None)

    def lock_dir(self, slot: Slot) -> str:
        # beside the mirror: the host's dir may not exist yet, and cannot be locked
        return str(self._added(slot).parent)

    def write_jobs(self, jobs: Sequence[tuple[Slot, JobFiles]]) -> None:
        """Stage every job's files here, then ONE rsync push of all of them."""
        if not jobs:
            return
        stage = Path(tempfile.mkdtemp(prefix="submit-", dir=self.caller.work))
        try:
            ready = []
            for slot, files in jobs:
                local = stage / slot.req.dir
                try:
                    local.mkdir(parents=True, mode=0o700)
                    write_job_files(str(local), files.job_text, files.script_text)
                    # nothing runs in the dir yet: its whole status file can go
                    status = self.host_lines.get(slot.req.dir, b"") + "".join(
                        format_line(k, v) for k, v in files.status_lines
                    ).encode("utf-8", "surrogateescape")
                    (local / keys.STATUS_FILE).write_bytes(status)
                    ready.append(slot)
                except OSError as exc:
                    slot.error = f"submit: cannot stage the job files: {exc.strerror or exc}"
            names = (keys.JOB_FILE, keys.SCRIPT_FILE, keys.STATUS_FILE)
            paths = [f"{slot.req.dir}/{name}" for slot in ready for name in names]
            pushed = self._wait(
                self.caller.transport.push(
                    self.host, stage, paths, self.caller.root, timeout=self.timeout
                )
            )
            if pushed.unreachable:
                raise HostTrouble(pushed.describe(), unreachable=True)
            if not pushed.ok:
                for slot in ready:
                    slot.error = f"pushing the job files to {self.host} failed: {pushed.describe()}"
        finally:
            shutil.rmtree(stage, ignore_errors=True)

    def append_status(self, slot: Slot, pairs: Sequence[tuple[str, str]]) -> None:
        path = self._added(slot)
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        append_lines(str(path), pairs)


def _able() -> list[str]:
    """The built-in runners that can submit a job whose files are remote."""
    names = []
    for name in sorted(BUILTIN):
        cls = runner_class(name)
        if issubclass(cls, BatchRunner) and cls.remote_files_directives:
            names.append(name)
    return names
