"""Pick hosts for a platform, skipping those that were recently unreachable.

The memory of bad hosts is a small JSON file under the state dir
(``json_state.JsonState``), so that separate CLI runs share it.
"""

from __future__ import annotations

import random
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from ..json_state import JsonState
from .model import Platform, Selection

FORMAT_VERSION = 1
T = TypeVar("T")


class HostPicker:
    """Candidates for one platform, best first; bad-host memory shared by platforms.

    Host names key the memory: a host unreachable for one platform is
    skipped by every platform listing it, each for its own ``bad_host_ttl``.
    """

    def __init__(
        self,
        platform: Platform,
        state_path: Path,
        *,
        clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
    ) -> None:
        self.platform = platform
        self.state = JsonState(Path(state_path), "hosts", FORMAT_VERSION)
        self._clock = clock
        self._rng = rng or random.Random()

    def candidates(self) -> list[str]:
        """Hosts to try, in order. Never empty.

        Hosts marked bad within ``bad_host_ttl`` are left out; if that leaves
        none, all hosts are returned, the longest-ago marked first (the one
        most likely to have come back).
        """
        hosts = list(self.platform.hosts)
        if self.platform.selection is Selection.RANDOM:
            self._rng.shuffle(hosts)
        bad = self.bad_hosts()
        good = [h for h in hosts if h not in bad]
        if good:
            return good
        return sorted(hosts, key=lambda h: bad[h])

    def bad_hosts(self) -> dict[str, float]:
        """Host -> when it was marked bad, for the hosts still within the ttl."""
        now = self._clock()
        ttl = self.platform.bad_host_ttl
        entries = _valid(self.state.read())
        return {
            host: float(entry["since"])
            for host, entry in entries.items()
            if host in self.platform.hosts and now - float(entry["since"]) < ttl
        }

    def mark_bad(self, host: str, reason: str) -> None:
        with self.state.update() as entries:
            entries[host] = {"since": self._clock(), "reason": reason}

    def mark_good(self, host: str) -> None:
        if host not in self.state.read():
            return  # the common case: no lock, no write
        with self.state.update() as entries:
            entries.pop(host, None)


def _valid(entries: dict[str, Any]) -> dict[str, Any]:
    """The entries that say when their host was marked bad."""
    return {
        h: e
        for h, e in entries.items()
        if isinstance(e, dict) and isinstance(e.get("since"), int | float)
    }


async def first_answer(
    picker: HostPicker,
    hosts: Sequence[str],
    attempt: Callable[[str], Awaitable[T]],
    unreachable: Callable[[T], str | None],
) -> T:
    """``attempt`` on each host in turn until one answers; the answer (or the last
    failure). A host that could not be reached (``unreachable`` gives why) is
    remembered as bad; one that answered is remembered as good."""
    if not hosts:
        raise ValueError("no host to try")
    result: T
    for host in hosts:
        result = await attempt(host)
        why = unreachable(result)
        if why is None:
            picker.mark_good(host)
            return result
        picker.mark_bad(host, why)
    return result
