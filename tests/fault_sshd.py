"""A private sshd for fault tests, and a hook that holds an agent's reply.

``PrivateSshd`` runs one more sshd for host1's account (rjhost1, same home,
so the same install target as ``host1``) on its own loopback address and
port, started and stopped by the test alone: killing it disturbs no other
session's tests. ``ReplyHold`` is the platform's ``python`` command: it
runs the agent, and on the first call only, holds the reply until the test
has done its damage, so the fault lands after the host did its work and
before the controller heard of it (the worst moment).
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import uuid
from dataclasses import dataclass
from pathlib import Path

from conftest import Infra, require
from job_dirs import wait_for
from ssh_harness import SshCli, ssh_platform, unique_root


def free_port(address: str) -> int:
    with socket.socket() as s:
        s.bind((address, 0))
        return int(s.getsockname()[1])


def children(pid: int) -> list[int]:
    """Every descendant of ``pid`` (sshd's per-connection processes)."""
    out = subprocess.run(["ps", "-e", "-o", "pid=,ppid="], capture_output=True, text=True)
    by_parent: dict[int, list[int]] = {}
    for line in out.stdout.splitlines():
        child, parent = (int(x) for x in line.split())
        by_parent.setdefault(parent, []).append(child)
    found, todo = [], [pid]
    while todo:
        kids = by_parent.get(todo.pop(), [])
        found += kids
        todo += kids
    return found


@dataclass
class PrivateSshd:
    infra: Infra
    dir: Path
    alias: str = "fhost"

    def __post_init__(self) -> None:
        self.address = f"127.0.{uuid.uuid4().int % 200 + 20}.{uuid.uuid4().int % 250 + 2}"
        self.port = free_port(self.address)
        self.dir.mkdir(parents=True, exist_ok=True)
        base = Path(self.infra.data["sshd_configs"]["host1"]).read_text().splitlines()
        keep = [x for x in base if not x.startswith(("Port ", "ListenAddress ", "PidFile "))]
        self.config = self.dir / "sshd_config"
        self.config.write_text(
            "\n".join(
                [
                    f"Port {self.port}",
                    f"ListenAddress {self.address}",
                    f"PidFile {self.dir / 'sshd.pid'}",
                    *keep,
                ]
            )
            + "\n"
        )
        ssh = Path(self.infra.ssh_config).parent
        key = (ssh / "host1" / "ssh_host_ed25519_key.pub").read_text().split()[:2]
        known = self.dir / "known_hosts"
        known.write_text(f"[{self.address}]:{self.port} {' '.join(key)}\n")
        self.ssh_config = self.dir / "ssh_config"
        self.ssh_config.write_text(
            f"Host {self.alias}\n  HostName {self.address}\n  Port {self.port}\n  User rjhost1\n"
            f"  UserKnownHostsFile {known}\n\n" + Path(self.infra.ssh_config).read_text()
        )
        self.pid = 0

    def start(self) -> None:
        log = self.dir / "sshd.log"
        subprocess.run(["/usr/sbin/sshd", "-f", str(self.config), "-E", str(log)], check=True)
        pidfile = self.dir / "sshd.pid"
        wait_for(lambda: pidfile.exists() and pidfile.read_text().strip(), "the private sshd")
        self.pid = int((self.dir / "sshd.pid").read_text())
        wait_for(self.accepts, "the private sshd to accept connections")

    def accepts(self) -> bool:
        with socket.socket() as s:
            return s.connect_ex((self.address, self.port)) == 0

    def stop(self) -> None:
        """The host goes down: the listener and every session it serves."""
        if not self.pid:
            return
        for pid in [self.pid, *children(self.pid)]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.pid = 0
        (self.dir / "sshd.pid").unlink(missing_ok=True)


def cmdline(pid: int) -> list[str]:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")
    except OSError:
        return []


def masters(controller: int) -> list[int]:
    """The ssh master processes (``ssh: <control dir>/<hash> [mux]``) of one
    controller process: its ssh clients name their control dir (a master
    clears its environment, so that is how it is known)."""
    dirs = {
        arg.partition("=")[2].rpartition("/")[0]
        for pid in children(controller)
        for arg in cmdline(pid)
        if arg.startswith("-oControlPath=")
    }
    found = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            title = " ".join(cmdline(int(proc.name)))
            ours = any(title.startswith(f"ssh: {d}/") for d in dirs)
            if ours and "[mux]" in title:
                found.append(int(proc.name))
    return found


@dataclass
class ReplyHold:
    """The agent's ``python`` command: on the first call after ``arm``, the reply is held."""

    dir: Path

    def __post_init__(self) -> None:
        self.hook = self.dir / "python-hook"
        self.hook.write_text(
            "#!/bin/bash\n"
            f"D={self.dir}\n"
            'out=$(mktemp)\npython3 "$@" >"$out"; rc=$?\n'
            'if [ $rc = 0 ] && [ -e "$D/armed" ] && mkdir "$D/held" 2>/dev/null; then\n'
            '  touch "$D/held/agent-done"\n'
            '  for _ in $(seq 600); do [ -e "$D/armed" ] || break; sleep 0.1; done\n'
            "fi\n"
            'cat "$out"; rm -f "$out"; exit $rc\n'
        )
        self.hook.chmod(0o755)

    def arm(self) -> None:
        (self.dir / "armed").touch()

    def wait_held(self) -> None:
        wait_for(lambda: (self.dir / "held" / "agent-done").exists(), "an agent call to be held")

    def release(self) -> None:
        (self.dir / "armed").unlink(missing_ok=True)


def kill_masters(controller: int) -> None:
    for pid in wait_for(lambda: masters(controller), "the controller's ssh master"):
        os.kill(pid, signal.SIGKILL)


class SlurmSshCli(SshCli):
    """Its cleanup first cancels what it left on Slurm (a failed test's jobs)."""

    def cleanup(self) -> None:
        env = {**os.environ, "SLURM_CONF": str(self.infra.data["slurm"]["conf"])}
        listing = subprocess.run(
            ["squeue", "-h", "-o", "%i %Z"], env=env, capture_output=True, text=True,
            timeout=60, check=False,
        )  # fmt: skip
        root = f"{self.host_root('host1')}/"
        ids = [x.split()[0] for x in listing.stdout.splitlines() if root in x]
        if ids:
            subprocess.run(["scancel", *ids], env=env, timeout=60, check=False)
        super().cleanup()


def slurm_over_ssh(tmp: Path, infra: Infra, **keys: object) -> SshCli:
    """Platform ``hpc``: Slurm (cluster rjtest) through host1, a run root of its own."""
    require(infra, "ssh")
    require(infra, "slurm")
    root = unique_root()
    # the default budget (6 squeue a minute) would make each settling wait up to 10 s
    # for the runner's word; one a second is still a budget (tests/test_budget_slurm.py)
    keys.setdefault("runner_queries", "1/s")
    toml = ssh_platform("hpc", ["host1"], "t1", infra, f"~/{root}", runner="slurm", **keys)
    return SlurmSshCli(tmp, infra, toml, root)
