"""The contact file of a run: which long-running controller holds it.

``<JOBRELAY_HOME>/contact/<run>.json`` names the host, pid, process start
time and command line of the controller process (``watch``, ``submit
--wait``, ``wait``). The state dir may be shared by several hosts (a shared
home), so a file naming another host is checked there over ssh. The check
is safe against PID reuse: the process must exist *and* have the start
time recorded (field 22 of ``/proc/<pid>/stat``, clock ticks since boot).

A live holder stops the new controller; a dead one's file is removed and
said so; a holder that cannot be checked (its host unreachable) stops the
new controller too: two controllers must never poll one run at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shlex
import socket
import sys
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path
from urllib.parse import quote

from ..host_dataclasses import asdict, dataclass
from ..runners.proc_stat import parse_proc_stat, read_proc_stat
from ..transport.ssh_command import DEFAULT_SSH_COMMAND

CHECK_TIMEOUT = 30.0


class RunHeld(Exception):
    """Another live controller holds the run (or it cannot be checked)."""


@dataclass(frozen=True)
class Contact:
    host: str
    pid: int
    start_time: str  # /proc/<pid>/stat field 22
    argv: list[str]
    run: str

    def describe(self) -> str:
        return f"pid {self.pid} on {self.host} ({shlex.join(self.argv)})"


def start_time_of(pid: int, stat_text: str) -> str | None:
    """Field 22 of a /proc/<pid>/stat line, as text."""
    stat = parse_proc_stat(pid, stat_text)
    return str(stat.starttime) if stat is not None else None


def local_start_time(pid: int) -> str | None:
    stat = read_proc_stat(pid)
    return str(stat.starttime) if stat is not None else None


def contact_path(home: Path, run: str) -> Path:
    return Path(home) / "contact" / (quote(run, safe="") + ".json")


def this_host() -> str:
    return socket.gethostname()


def ssh_command_from_env() -> list[str]:
    """How to reach another host sharing the state dir: ``$JOBRELAY_SSH_COMMAND``."""
    raw = os.environ.get("JOBRELAY_SSH_COMMAND")
    return shlex.split(raw) if raw else list(DEFAULT_SSH_COMMAND)


async def holder_alive(contact: Contact, ssh_command: Sequence[str]) -> bool:
    """True if the process the file names still runs. Raises RunHeld if unknowable."""
    if contact.host in (this_host(), socket.getfqdn()):
        return local_start_time(contact.pid) == contact.start_time
    from ..transport.ssh import SshTransport  # here: a holder on another host only

    transport = SshTransport(ssh_command, multiplex=False)
    try:
        # cat, not test -e: one command both proves the pid exists and gives its start time
        out = await transport.run(
            contact.host, ["cat", f"/proc/{contact.pid}/stat"], timeout=CHECK_TIMEOUT
        )
    finally:
        await transport.close()
    if out.unreachable or out.timed_out:
        raise RunHeld(
            f"run {contact.run!r} has a contact file naming {contact.describe()}, and "
            f"{contact.host} cannot be checked ({out.describe()}); if that controller is "
            "gone, remove the contact file"
        )
    if not out.ok:
        return False  # no such process there
    return start_time_of(contact.pid, out.stdout) == contact.start_time


def read_contact(path: Path) -> Contact | None:
    try:
        data = json.loads(path.read_text())
        return Contact(
            host=str(data["host"]),
            pid=int(data["pid"]),
            start_time=str(data["start_time"]),
            argv=[str(a) for a in data["argv"]],
            run=str(data["run"]),
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None


@contextlib.asynccontextmanager
async def holding_runs(
    home: Path,
    runs: Sequence[str],
    argv: Sequence[str] | None = None,
    *,
    ssh_command: Sequence[str] | None = None,
    say: Callable[[str], None] = lambda text: print(text, file=sys.stderr),
) -> AsyncIterator[list[Contact]]:
    """Write the runs' contact files for this process; remove them on the way out."""
    held: list[tuple[Path, Contact]] = []
    try:
        for run in sorted(set(runs)):
            path = contact_path(home, run)
            path.parent.mkdir(parents=True, exist_ok=True)
            me = Contact(
                host=this_host(),
                pid=os.getpid(),
                start_time=local_start_time(os.getpid()) or "",
                argv=list(sys.argv if argv is None else argv),
                run=run,
            )
            await check_and_claim(path, me, ssh_command or ssh_command_from_env(), say)
            held.append((path, me))
        yield [me for _, me in held]
    finally:
        for path, me in held:
            if read_contact(path) == me:
                path.unlink(missing_ok=True)


async def check_and_claim(
    path: Path, me: Contact, ssh_command: Sequence[str], say: Callable[[str], None]
) -> None:
    for _ in range(3):
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            other = read_contact(path)
            if other is None:
                await asyncio.sleep(0.5)  # its writer may be between create and write
                other = read_contact(path)
            if other is not None and await holder_alive(other, ssh_command):
                raise RunHeld(
                    f"run {me.run!r} is held by a live controller: {other.describe()}; "
                    f"stop it first (contact file {path})"
                ) from None
            what = other.describe() if other else "unreadable"
            say(f"jobrelay: removed stale contact file {path} ({what}: no such process)")
            path.unlink(missing_ok=True)
            continue
        with os.fdopen(fd, "w") as stream:
            json.dump(asdict(me), stream, indent=1)
        return
    raise RunHeld(f"run {me.run!r}: contact file {path} keeps reappearing")
