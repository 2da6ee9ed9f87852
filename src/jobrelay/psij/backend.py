"""What every jobrelay PSI/J executor in a process shares.

PSI/J makes a new executor for each ``JobExecutor.get_instance`` and loads
the executor's module by its file path (a second copy of the module), so
the state lives here, in a module imported the usual way: one
``Background`` (session, hub, event-loop thread) per config and state dir,
and one thread that delivers status changes to PSI/J (its callbacks run
user code, which may call the executor again: never in the loop's thread).
"""

from __future__ import annotations

import atexit
import logging
import queue
import threading
from collections.abc import Callable
from pathlib import Path

from ..stream import Background

logger = logging.getLogger(__name__)
_lock = threading.Lock()
_backgrounds: dict[tuple[str | None, str | None, float], Background] = {}
_deliveries: queue.SimpleQueue[Callable[[], None]] = queue.SimpleQueue()
_delivery_thread: threading.Thread | None = None


def background(config: Path | str | None, home: Path | str | None, max_delay: float) -> Background:
    """The shared ``Background`` for this config and state dir (made on first use)."""
    key = (
        None if config is None else str(config),
        None if home is None else str(home),
        max_delay,
    )
    with _lock:
        found = _backgrounds.get(key)
        if found is None:
            found = Background(config, None if home is None else Path(home), max_delay)
            _backgrounds[key] = found
        return found


def deliver(action: Callable[[], None]) -> None:
    """Run ``action`` (a PSI/J status update) in the delivery thread, in order."""
    global _delivery_thread
    with _lock:
        if _delivery_thread is None:
            _delivery_thread = threading.Thread(
                target=_deliver_forever, name="jobrelay-psij-status", daemon=True
            )
            _delivery_thread.start()
    _deliveries.put(action)


def _deliver_forever() -> None:
    while True:
        action = _deliveries.get()
        try:
            action()
        except Exception:  # one bad callback must not stop the others' news
            logger.exception("jobrelay PSI/J executor: a status update failed")


@atexit.register
def _close_all() -> None:
    # ends the agents and SSH masters the sessions hold
    with _lock:
        for bg in _backgrounds.values():
            bg.close()
        _backgrounds.clear()
