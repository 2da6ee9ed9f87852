"""Run the gate the way sshd does: a subprocess with SSH_ORIGINAL_COMMAND set.

Shared by the gate tests. ``Sandbox`` lays out a run root with the traps
the injection battery aims at (a symlink pointing out, a sibling whose name
extends the root's, an agent outside the root) and canary programs standing
in for rsync and python: they only write a marker file, so a test can tell
that nothing was executed.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional

SRC = Path(__file__).resolve().parent.parent / "src"
AGENT_NAME = "agent-0.1.0.pyz"


@dataclass(frozen=True)
class Sandbox:
    base: Path
    root: Path  # the run root
    outside: Path  # a directory next to it, never to be touched
    canary: Path  # where markers go
    log: Path

    @property
    def agent(self) -> Path:
        return self.root / ".jobrelay" / AGENT_NAME

    @property
    def rsync_marker(self) -> Path:
        return self.canary / "rsync-ran"

    @property
    def python_marker(self) -> Path:
        return self.canary / "python-ran"

    @property
    def pwned(self) -> Path:
        return self.canary / "pwned"

    def executed(self) -> List[str]:
        return sorted(p.name for p in self.canary.iterdir())


def _canary_program(path: Path, marker: Path) -> None:
    path.write_text(f'#!/bin/sh\nprintf "%s\\n" "$@" > {marker}\n')
    path.chmod(0o755)


def make_sandbox(base: Path) -> Sandbox:
    root = base / "run"
    outside = base / "outside"
    canary = base / "canary"
    for d in (root / "jobs" / "j1", root / ".jobrelay", outside, canary, base / "bin"):
        d.mkdir(parents=True)
    (root / "jobs" / "j1" / "job.status").write_text("RUNNER=background\n")
    (outside / "secret").write_text("secret\n")
    (outside / AGENT_NAME).write_text("print('outside agent')\n")
    (root / ".jobrelay" / AGENT_NAME).write_text("print('agent')\n")
    (root / "link_out").symlink_to(outside)
    (root / "dangling_out").symlink_to(outside / "not-yet")
    (root / ".jobrelay" / "agent-9.9.9.pyz").symlink_to(outside / AGENT_NAME)
    (base / "run-evil").mkdir()  # shares the root's name as a prefix
    box = Sandbox(base, root, outside, canary, base / "gate.log")
    _canary_program(base / "bin" / "rsync", box.rsync_marker)
    _canary_program(base / "bin" / "python3", box.python_marker)
    return box


def run_gate(
    box: Sandbox,
    command: Optional[str],
    extra: Optional[List[str]] = None,
    canaries: bool = True,
    env: Optional[dict] = None,
) -> subprocess.CompletedProcess:
    args = [
        sys.executable,
        "-m",
        "jobrelay.gate",
        "--run-root",
        str(box.root),
        "--log",
        str(box.log),
    ]
    if canaries:
        args += ["--rsync", str(box.base / "bin" / "rsync")]
        args += ["--python", str(box.base / "bin" / "python3")]
    args += extra or []
    full_env = dict(os.environ, PYTHONPATH=str(SRC), SSH_CLIENT="192.0.2.7 50000 22")
    full_env.pop("SSH_ORIGINAL_COMMAND", None)
    if command is not None:
        full_env["SSH_ORIGINAL_COMMAND"] = command
    full_env.update(env or {})
    return subprocess.run(
        args, env=full_env, cwd=str(box.base), capture_output=True, text=True, timeout=60
    )
