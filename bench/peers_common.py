"""What bench/compare's stages share: the SSH test host, waiting, timing."""

from __future__ import annotations

import json
import os
import shlex
import statistics
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

FIRST_DELAY, GROWTH, MAX_DELAY = 0.05, 1.5, 5.0  # jobrelay's own polling delays
# each system's sleeping jobs, told apart on the host by their command line
SLEEP = {"jobrelay": "sleep 6001", "cylc": "sleep 6002", "troika": "sleep 6003"}


def load_infra() -> dict[str, Any]:
    root = Path(os.environ.get("JOBRELAY_TEST_INFRA", "/tmp/jobrelay-test-infra"))
    data: dict[str, Any] = json.loads((root / "env.json").read_text())
    return data


def until(done: Callable[[], bool], limit: float = 600.0) -> None:
    """Call ``done`` with jobrelay's growing delays until it says yes."""
    delay = FIRST_DELAY
    deadline = time.monotonic() + limit
    while not done():
        if time.monotonic() > deadline:
            raise RuntimeError("gave up waiting")
        time.sleep(delay)
        delay = min(delay * GROWTH, MAX_DELAY)


def timed(argv: Sequence[str], stdin: str | None) -> float:
    t0 = time.perf_counter()
    subprocess.run(list(argv), input=stdin, capture_output=True, text=True)
    return time.perf_counter() - t0


def median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


class Host:
    """The SSH test host, for set-up and checks (never timed)."""

    def __init__(self, infra: dict[str, Any], name: str) -> None:
        self.name = name
        self.ssh = ["ssh", "-F", infra["ssh_config"]]
        self.home = infra["hosts"][name]["home"]

    def run(self, command: str, stdin: str | None = None) -> str:
        proc = subprocess.run(
            [*self.ssh, self.name, command], input=stdin, capture_output=True, text=True
        )
        return proc.stdout

    def pids(self, pattern: str) -> list[str]:
        return self.run(f"pgrep -x -f {shlex.quote(pattern)} || true").split()

    def kill_pids(self, pids: list[str]) -> None:
        """Clean-up: end our own leftover job processes, by id."""
        if pids:
            self.run("kill -9 " + " ".join(pids) + " 2>/dev/null || true")
