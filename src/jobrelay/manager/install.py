"""Remote init of an install target: the agent file and a run's directory skeleton.

Done once per install target (hosts sharing a filesystem share it), not
once per host, and remembered under the controller's state dir so that a
second CLI process, or the second host of the same target, does not do it
again. Everything goes over rsync with ``--checksum``: repeating an install
rewrites nothing that is already right.

How a stale agent is found: the controller only ever runs the agent under
the name of its own build, ``agent-<version>-<hash>.pyz``; any other code is
another name, which the host does not have ("can't open file"), and the
caller installs it. A reply whose closing line carries another
``agent_version`` than ours means the file under our name was replaced:
the record is dropped and the next call installs again (rsync rewrites
the file because its checksum differs).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from ..host_dataclasses import dataclass
from ..json_state import JsonState
from ..platforms.model import Platform
from ..transport.base import CommandOutcome, Transport
from ..transport.local import local_root_of

AGENT_DIR = ".jobrelay"  # under the run root on each install target
STATE_FILE = "installs.json"
MISSING_PARENT = "No such file or directory"  # rsync's mkdir of the destination failed
FORMAT_VERSION = 1


@dataclass(frozen=True)
class InstallFailure:
    host: str
    error: str
    unreachable: bool


def target_key(platform: Platform) -> str:
    """What identifies one install: the shared filesystem and the root on it."""
    return f"{platform.install_target}|{platform.run_root}"


class InstallRecord:
    """The installs this controller home has done, shared by its processes.

    ``installs.json``: {"targets": {key: {"agent": name, "runs": [...], "host": h,
    "count": n, "time": t}}} (``json_state.JsonState``).
    """

    def __init__(self, home: Path) -> None:
        self.state = JsonState(Path(home) / STATE_FILE, "targets", FORMAT_VERSION)

    def read(self) -> dict[str, Any]:
        return self.state.read()

    def entry(self, key: str) -> dict[str, Any]:
        found = self.read().get(key)
        return found if isinstance(found, dict) else {}

    def has(self, key: str, agent: str, runs: Sequence[str] = ()) -> bool:
        entry = self.entry(key)
        known = _runs(entry)
        return entry.get("agent") == agent and all(run in known for run in runs)

    def note(self, key: str, agent: str, runs: Sequence[str], host: str) -> None:
        with self.state.update() as targets:
            found = targets.get(key)
            entry: dict[str, Any] = found if isinstance(found, dict) else {}
            known = _runs(entry)
            targets[key] = {
                "agent": agent,
                "runs": sorted(set(known) | set(runs)),
                "host": host,
                "count": int(entry.get("count", 0)) + 1,
                "time": time.time(),
            }

    def forget(self, key: str, run: str | None = None) -> None:
        """Drop the whole target (stale agent), or only one run (tidied)."""
        with self.state.update() as targets:
            if run is None:
                targets.pop(key, None)
            elif isinstance(targets.get(key), dict):
                runs = targets[key].get("runs") or []
                targets[key]["runs"] = [r for r in runs if r != run]


#: $1 the run dir, $2 this ledger's job dir name prefix, then its older job
#: dirs; the run dir goes only when no other ledger's jobs are left in it
#: (tidy never removes another ledger's run)
TIDY_SCRIPT = (
    'run=$1; mine=$2; shift 2; n=0; for d in "$run/jobs/$mine"* "$@"; do '
    '[ -e "$d" ] && n=$((n+1)); done; echo "job dirs $n"; '
    'rm -rf -- "$run/jobs/$mine"* "$@" || exit 1; '
    'rmdir -- "$run/jobs" 2>/dev/null; '
    'if [ -e "$run/jobs" ]; then echo kept; else rm -rf -- "$run" && echo removed; fi'
)


def runs_of(job_dirs: Sequence[str]) -> list[str]:
    """The runs a batch's job dirs (``<run>/jobs/<id>-<slug>``) belong to."""
    runs = set()
    for rel in job_dirs:
        head, sep, _ = rel.rpartition("/jobs/")
        if sep and head:
            runs.add(head)
    return sorted(runs)


class Installer:
    """Remote init for one platform's install target."""

    def __init__(
        self,
        platform: Platform,
        transport: Transport,
        home: Path,
        agent_file: Callable[[], Path],
    ) -> None:
        self.platform = platform
        self.transport = transport
        self.home = Path(home)
        self.record = InstallRecord(home)
        self._agent_file = agent_file
        self.key = target_key(platform)

    @property
    def root(self) -> str:
        root = self.platform.run_root.rstrip("/") or "/"
        # on this machine no remote shell expands "~/": it means this user's home
        return str(local_root_of(root)) if self.transport.local_files else root

    def needed(self, runs: Sequence[str]) -> bool:
        return not self.record.has(self.key, self._agent_file().name, runs)

    async def ensure(
        self, host: str, runs: Sequence[str], timeout: float
    ) -> tuple[bool, InstallFailure | None]:
        """Install unless done already: (installed now, failure).

        Concurrent batches for one target wait for a single install.
        """
        if not self.needed(runs):
            return False, None
        async with _target_lock(self.key):
            if not self.needed(runs):  # another batch did it while we waited
                return False, None
            failed = await self.install(host, runs, timeout)
            return failed is None, failed

    async def install(
        self, host: str, runs: Sequence[str], timeout: float
    ) -> InstallFailure | None:
        """Put the agent and the runs' skeletons on the target; None when it worked."""
        agent = self._agent_file()
        with tempfile.TemporaryDirectory(prefix="stage-", dir=self._stage_parent()) as tmp:
            stage = Path(tmp)
            rels = [AGENT_DIR, f"{AGENT_DIR}/{agent.name}"]
            (stage / AGENT_DIR).mkdir()
            _link_or_copy(agent, stage / AGENT_DIR / agent.name)
            for run in runs:
                (stage / run / "jobs").mkdir(parents=True, exist_ok=True)
                parts = run.split("/")
                rels += ["/".join(parts[: i + 1]) for i in range(len(parts))]
                rels.append(f"{run}/jobs")
            (stage / AGENT_DIR).chmod(0o700)
            pushed = await self._push(host, stage, _unique(rels), self.root, timeout)
        if not pushed.ok:
            return _failure(host, "installing the agent", pushed)
        self.record.note(self.key, agent.name, runs, host)
        return None

    async def install_files(
        self,
        host: str,
        run: str,
        source: Path,
        paths: Sequence[str],
        excludes: Sequence[str],
        timeout: float,
    ) -> tuple[list[str], InstallFailure | None]:
        """Copy user files (``paths`` under ``source``) into ``<run_root>/<run>/``."""
        from .userfiles import select_files

        files = select_files(source, paths, excludes)
        if not files:
            return [], None
        dest = f"{self.root}/{run}"
        pushed = await self._push(host, source, files, dest, timeout)
        if not pushed.ok:
            return files, _failure(host, "installing files", pushed)
        return files, None

    async def tidy(
        self, host: str, run: str, prefix: str, legacy: Sequence[str], timeout: float
    ) -> CommandOutcome:
        """Remove this ledger's job dirs of ``run`` (names starting ``prefix-``, and
        ``legacy``: paths relative to the run root of its older job dirs), then
        the run's dir unless other ledgers' jobs are in it.

        The outcome's stdout says ``job dirs N`` (how many it removed), then
        ``removed`` (the whole run dir) or ``kept``.
        """
        if not run or run.startswith(("/", "~", "-")) or ".." in run.split("/"):
            raise ValueError(f"refusing to remove run dir {run!r}")
        if not prefix.isalnum():
            raise ValueError(f"refusing a job dir prefix {prefix!r}")
        for rel in legacy:
            if not rel.startswith(f"{run}/jobs/") or ".." in rel.split("/"):
                raise ValueError(f"refusing to remove {rel!r}: not a job dir of run {run!r}")
        argv = ["sh", "-c", TIDY_SCRIPT, "tidy", f"{self.root}/{run}", f"{prefix}-"]
        argv += [f"{self.root}/{rel}" for rel in legacy]
        outcome = await self.transport.run(host, argv, timeout=timeout)
        if outcome.ok and "removed" in outcome.stdout:
            self.record.forget(self.key, run)
        return outcome

    async def _push(
        self, host: str, local: Path, rels: list[str], dest: str, timeout: float
    ) -> CommandOutcome:
        """One rsync; if the destination's parents are missing, create them and retry.

        rsync makes only the last directory of its destination. Not using
        ``--mkpath``: rsync before 3.2.3 lacks it. Trying first keeps the
        usual case (the root exists) to one command, and works through a
        restricted-ssh gate that allows rsync and the agent only.
        """
        pushed = await self.transport.push(host, local, rels, dest, timeout=timeout)
        if pushed.ok or pushed.unreachable or MISSING_PARENT not in pushed.stderr:
            return pushed
        made = await self.transport.run(host, ["mkdir", "-p", "--", dest], timeout=timeout)
        if not made.ok:
            return made
        return await self.transport.push(host, local, rels, dest, timeout=timeout)

    def _stage_parent(self) -> Path:
        parent = self.home / "stage"
        parent.mkdir(parents=True, exist_ok=True)
        return parent


_LOCKS: dict[tuple[int, str], asyncio.Lock] = {}


def _target_lock(key: str) -> asyncio.Lock:
    """One lock per install target per event loop (every platform of the target shares it)."""
    loop_id = id(asyncio.get_running_loop())
    return _LOCKS.setdefault((loop_id, key), asyncio.Lock())


def _runs(entry: dict[str, Any]) -> list[str]:
    runs = entry.get("runs")
    return [str(r) for r in runs] if isinstance(runs, list) else []


def _failure(host: str, what: str, outcome: CommandOutcome) -> InstallFailure:
    return InstallFailure(
        host, f"{what} on {host} failed: {outcome.describe()}", outcome.unreachable
    )


def _link_or_copy(src: Path, dest: Path) -> None:
    try:
        os.link(src, dest)
    except OSError:
        shutil.copy2(src, dest)


def _unique(items: Sequence[str]) -> list[str]:
    return list(dict.fromkeys(items))
