"""The SSH-free test host hostH as jobrelay sees it: a platform, a CLI, the gate's log.

hostH's run root exists only inside a mount namespace (tests/infra/up.sh);
the tests look inside it with ``nsenter`` to check what is there, never to
help jobrelay. Runner commands go through ``count-runner``, a real prefix
program that logs each command line before it execs it, so a test can count
squeue/scancel calls exactly.
"""

from __future__ import annotations

import subprocess
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cli_harness import Cli
from conftest import Infra, require, require_that


@dataclass
class SshFreeHost:
    data: dict[str, Any]
    slurm_conf: str
    runner_log: Path  # one line per runner command (count-runner)
    gate_log: Path

    @property
    def run_root(self) -> str:
        return str(self.data["run_root"])

    def inside(self, *argv: str) -> subprocess.CompletedProcess[str]:
        """Run ``argv`` as root inside hostH's mount namespace."""
        cmd = ["nsenter", f"--mount={self.data['mntns']}", "--", *argv]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=60)

    def gate_lines(self) -> list[str]:
        try:
            return self.gate_log.read_text(errors="replace").splitlines()
        except FileNotFoundError:
            return []

    def runner_lines(self) -> list[str]:
        try:
            return self.runner_log.read_text().splitlines()
        except FileNotFoundError:
            return []

    def toml(self, name: str = "hfree") -> str:
        prefix = [
            str(self.runner_log.parent / "count-runner"),
            "runuser",
            "-u",
            str(self.data["user"]),
            "--",
            "env",
            f"SLURM_CONF={self.slurm_conf}",
        ]
        quoted = ", ".join(f'"{p}"' for p in prefix)
        return (
            f"[platforms.{name}]\n"
            f'hosts = ["{self.data["host"]}"]\n'
            'transport = "ssh-free"\n'
            'runner = "slurm"\n'
            f'install_target = "{self.data["host"]}"\n'
            f'ssh_command = ["ssh", "-F", "{self.data["ssh_config"]}"]\n'
            f'run_root = "{self.run_root}"\n'
            f'cluster = "{self.data["cluster"]}"\n'
            f"runner_prefix = [{quoted}]\n"
            'runner_queries = "unlimited"\n'  # each poll's own squeue is what is counted
        )


def sshfree_host(infra: Infra, tmp: Path) -> SshFreeHost:
    require(infra, "sshfree")
    require(infra, "slurm")
    data = dict(infra.data["sshfree"])
    require_that(
        bool(data.get("gate_log")),
        "hostH runs a custom gate (JOBRELAY_TEST_GATE_COMMAND): these tests need jobrelay's",
    )
    conf = infra.data["slurm"]["confs"][data["cluster"]]
    tmp.mkdir(parents=True, exist_ok=True)
    log = tmp / "runner-commands.log"
    counter = tmp / "count-runner"
    counter.write_text(f'#!/bin/bash\nprintf \'%s\\n\' "$*" >> {log}\nexec "$@"\n')
    counter.chmod(0o755)
    return SshFreeHost(data, conf, log, Path(data["gate_log"]))


def sshfree_cli(host: SshFreeHost, tmp: Path) -> Cli:
    config = tmp / "platforms.toml"
    config.write_text(host.toml(), encoding="utf-8")
    # run_root: the host's; it is NOT visible here (the tests check that)
    return Cli(home=tmp / "home", config=config, run_root=Path(host.run_root))


def run_name() -> str:
    return f"sf-{uuid.uuid4().hex[:10]}"
