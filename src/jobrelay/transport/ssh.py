"""The ssh transport: OpenSSH client commands, one multiplexed connection per host.

The user's ssh command and ``~/.ssh/config`` (ProxyJump, Kerberos, keys)
are used as they are: jobrelay only appends ControlMaster options, and ssh
takes the first value it sees for an option, so an option the user put in
``ssh_command`` wins over ours. Where multiplexing cannot work (no short
private socket dir, the server refuses extra sessions), commands fall back
to plain connections.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from pathlib import Path

from ..processes import CommandResult, run_process, spawn_process
from .base import CommandOutcome, Transport, check_rel_paths
from .control_dir import make_control_dir
from .quoting import remote_command_line
from .rsync import files_from, pull_argv, push_argv
from .ssh_command import DEFAULT_SSH_COMMAND

SSH_FAILURE = 255  # ssh's own exit status: it could not connect or authenticate
#: rsync's exit when its ssh died before the transfer began: 255 or, when
#: rsync wrote to the pipe first (a race), 12 "error in rsync protocol data stream"
RSYNC_PROTOCOL_ERROR = 12
CONNECT_FAILURES = ("ssh: connect to host", "ssh: Could not resolve hostname")
# stderr of an ssh whose multiplexed session failed before the command started
MUX_FAILURE_SIGNS = (
    "mux_client",
    "muxclient",
    "Session open refused",
    "ControlSocket",
    "control socket",
    "administratively prohibited",
)
CLOSE_TIMEOUT = 10.0


class SshTransport(Transport):
    def __init__(
        self,
        ssh_command: Sequence[str] = DEFAULT_SSH_COMMAND,
        rsync_command: Sequence[str] = ("rsync",),
        *,
        multiplex: bool = True,
        control_persist: int = 300,
        admit: Callable[[str], Awaitable[None]] | None = None,
    ) -> None:
        if not ssh_command:
            raise ValueError("empty ssh command")
        self.ssh_command = tuple(ssh_command)
        self.rsync_command = tuple(rsync_command)
        self.multiplex = multiplex
        self.control_persist = control_persist
        self._control_dir: Path | None = None
        self._control_dir_failed = False
        self._plain_hosts: set[str] = set()  # multiplexing failed there: plain connections
        self._mux_hosts: set[str] = set()  # hosts a master may exist for (close ends them)
        self._first_use: dict[str, asyncio.Lock] = {}  # host -> held while its master starts
        self._masters_up: set[str] = set()  # hosts whose master has served a command
        # awaited before each new connection to a host (the polling budget's
        # ssh_connections); a session over an up master is not a new one
        self.admit = admit

    async def _admit(self, host: str, multiplexed: bool) -> None:
        if self.admit is not None and not (multiplexed and host in self._masters_up):
            await self.admit(host)

    # ------------------------------------------------------------ command lines

    @property
    def control_path(self) -> str | None:
        """The ControlPath pattern in use, or None when not multiplexing."""
        if not self.multiplex or self._control_dir_failed:
            return None
        if self._control_dir is None:
            self._control_dir = make_control_dir()
            if self._control_dir is None:
                self._control_dir_failed = True
                return None
        return f"{self._control_dir}/%C"

    def _multiplexed(self, host: str) -> bool:
        return host not in self._plain_hosts and self.control_path is not None

    def ssh_argv(self, host: str) -> list[str]:
        """The ssh command (without destination) used for ``host``, ours or rsync's."""
        path = None if host in self._plain_hosts else self.control_path
        if path is None:
            return list(self.ssh_command)
        self._mux_hosts.add(host)
        return [
            *self.ssh_command,
            "-oControlMaster=auto",
            f"-oControlPath={path}",
            f"-oControlPersist={self.control_persist}",
        ]

    def command_argv(self, host: str, argv: Sequence[str]) -> list[str]:
        # "--": a destination can never be read as an option
        return [*self.ssh_argv(host), "--", host, remote_command_line(argv)]

    # ------------------------------------------------------------ Transport

    async def run(
        self, host: str, argv: Sequence[str], *, stdin: bytes | None = None, timeout: float
    ) -> CommandOutcome:
        while True:
            multiplexed = self._multiplexed(host)
            async with self._master_started(host, multiplexed):
                await self._admit(host, multiplexed)
                result = await run_process(
                    self.command_argv(host, argv), stdin=stdin, timeout=timeout
                )
                self._note_master(host, multiplexed, result)
            if multiplexed and _mux_failed(result):
                self._plain_hosts.add(host)  # the command never started: safe to repeat
                continue
            return _outcome(result)

    async def push(
        self,
        host: str,
        local_root: Path,
        rel_paths: Sequence[str],
        remote_root: str,
        *,
        timeout: float,
    ) -> CommandOutcome:
        listing = files_from(check_rel_paths(rel_paths))
        rsync = self.rsync_command
        build = lambda: push_argv(rsync, self.ssh_argv(host), host, local_root, remote_root)  # noqa: E731
        return await self._rsync(host, build, listing, timeout)

    async def pull(
        self,
        host: str,
        remote_root: str,
        rel_paths: Sequence[str],
        local_root: Path,
        *,
        timeout: float,
    ) -> CommandOutcome:
        listing = files_from(check_rel_paths(rel_paths))
        Path(local_root).mkdir(parents=True, exist_ok=True)
        rsync = self.rsync_command
        build = lambda: pull_argv(rsync, self.ssh_argv(host), host, remote_root, local_root)  # noqa: E731
        return await self._rsync(host, build, listing, timeout)

    async def _rsync(
        self, host: str, build: Callable[[], list[str]], listing: bytes, timeout: float
    ) -> CommandOutcome:
        while True:
            multiplexed = self._multiplexed(host)
            async with self._master_started(host, multiplexed):
                await self._admit(host, multiplexed)
                result = await run_process(build(), stdin=listing, timeout=timeout)
                self._note_master(host, multiplexed, result)
            if multiplexed and _mux_failed(result):
                self._plain_hosts.add(host)
                continue
            return _outcome(result)

    async def spawn(self, host: str, argv: Sequence[str]) -> asyncio.subprocess.Process | None:
        """A long-lived command on ``host``, through its master once one is up."""
        multiplexed = self._multiplexed(host)
        if multiplexed and host not in self._masters_up:
            return None  # the first command to a host starts its master (see run)
        await self._admit(host, multiplexed)
        return await spawn_process(self.command_argv(host, argv))

    @contextlib.asynccontextmanager
    async def _master_started(self, host: str, multiplexed: bool) -> AsyncIterator[None]:
        """Until a host's master is up, run its commands one at a time.

        With ``ControlMaster=auto`` and no socket yet, every ssh started at
        once would try to become the master; all but one fall back to their
        own connection. The first command alone starts the master, the
        others then share it.
        """
        if not multiplexed or host in self._masters_up:
            yield
            return
        lock = self._first_use.setdefault(host, asyncio.Lock())
        async with lock:
            started = host in self._masters_up  # while we queued, the first one started it
            if not started:
                yield
        if started:
            yield

    def _note_master(self, host: str, multiplexed: bool, result: CommandResult) -> None:
        if multiplexed and result.returncode != SSH_FAILURE and not result.timed_out:
            self._masters_up.add(host)

    async def check_master(self, host: str) -> bool:
        """True if a master connection to ``host`` is up (``ssh -O check``)."""
        path = self.control_path
        if path is None:
            return False
        argv = [*self.ssh_command, f"-oControlPath={path}", "-O", "check", "--", host]
        result = await run_process(argv, stdin=None, timeout=CLOSE_TIMEOUT)
        return result.returncode == 0

    async def close(self) -> None:
        path = None if self._control_dir is None else f"{self._control_dir}/%C"
        if path is not None:
            for host in sorted(self._mux_hosts):
                argv = [*self.ssh_command, f"-oControlPath={path}", "-O", "exit", "--", host]
                await run_process(argv, stdin=None, timeout=CLOSE_TIMEOUT)
        self._mux_hosts.clear()
        self._masters_up.clear()
        if self._control_dir is not None:
            # only our own private directory: the masters remove their sockets on exit
            shutil.rmtree(self._control_dir, ignore_errors=True)
            self._control_dir = None


def _without_mux_notes(stderr: str) -> str:
    """Drop ssh's own notes about falling back from multiplexing: the command's
    stderr should read the same whether or not a master was shared."""
    if "mux" not in stderr and "ControlSocket" not in stderr:
        return stderr
    kept = [
        line
        for line in stderr.splitlines(keepends=True)
        if not line.startswith(("mux_client_", "ControlSocket "))
    ]
    return "".join(kept)


def _mux_failed(result: CommandResult) -> bool:
    if result.returncode != SSH_FAILURE:
        return False
    stderr = result.stderr
    return any(sign in stderr for sign in MUX_FAILURE_SIGNS)


def _outcome(result: CommandResult) -> CommandOutcome:
    stderr = _without_mux_notes(result.stderr)
    if result.start_error:
        stderr = f"cannot run: {result.start_error}"
    # a timeout with no output at all: we never got as far as the remote command
    unreachable = (
        result.returncode == SSH_FAILURE
        or (result.timed_out and not result.stdout)
        or (result.returncode == RSYNC_PROTOCOL_ERROR and _connect_failed(stderr))
    )
    never = bool(result.start_error) or (
        result.returncode == SSH_FAILURE and _connect_failed(stderr)
    )
    return CommandOutcome(
        result.returncode, result.stdout, stderr, result.timed_out, unreachable, never
    )


def _connect_failed(stderr: str) -> bool:
    """ssh's own word that it never reached the host (its errors start "ssh: ")."""
    return any(line.startswith(CONNECT_FAILURES) for line in stderr.splitlines())
