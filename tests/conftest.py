"""Shared fixtures: the real test infrastructure described by env.json.

``tests/infra/up.sh`` (run by scripts/test.sh) brings up sshd hosts, Slurm,
atd and the SSH-free host, and writes ``$JOBRELAY_TEST_INFRA/env.json``.
A test that needs a component calls ``require``: locally a missing
component skips the test, under ``CI=true`` it fails it, so CI never passes
by skipping what it should have run.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Iterator

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

INFRA_DIR = Path(os.environ.get("JOBRELAY_TEST_INFRA", "/tmp/jobrelay-test-infra"))


@dataclass(frozen=True)
class Infra:
    root: Path
    data: Dict[str, Any] = field(default_factory=dict)

    @property
    def ssh_config(self) -> str:
        return str(self.data["ssh_config"])

    @property
    def hosts(self) -> Dict[str, Dict[str, Any]]:
        return dict(self.data.get("hosts", {}))

    def has(self, component: str) -> bool:
        if component == "ssh":
            return bool(self.data.get("hosts")) and bool(self.data.get("ssh_config"))
        return bool(self.data.get(component))


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def require(infra: Infra, component: str) -> None:
    """Skip (locally) or fail (CI=true) when ``component`` is not up."""
    require_that(
        infra.has(component),
        f"test infrastructure {component!r} is not up (run tests/infra/up.sh; see {INFRA_DIR})",
    )


def require_that(ok: bool, msg: str) -> None:
    """Skip (locally) or fail (CI=true) when a test's precondition does not hold."""
    if ok:
        return
    if in_ci():
        pytest.fail(msg + " — under CI=true this is a failure, not a skip")
    pytest.skip(msg)


@pytest.fixture(scope="session")
def infra() -> Infra:
    env = INFRA_DIR / "env.json"
    try:
        data = json.loads(env.read_text())
    except (OSError, ValueError):
        data = {}
    return Infra(INFRA_DIR, data)


@pytest.fixture
def marks() -> Iterator[Any]:
    """The fault suite's marker file (tests/fault_harness.py), removed afterwards."""
    from fault_harness import markers

    with markers() as m:
        yield m
