"""Where the controller keeps its state (the ledger, the agent build, bad-host
memory, fetched logs): light to import, so that commands which only read the
ledger do not load the controller."""

from __future__ import annotations

import os
from pathlib import Path


class StateDirError(Exception):
    """The state dir cannot be used (a file in its place, no permission)."""


def home_dir() -> Path:
    """State dir: ``$JOBRELAY_HOME``, else ``$XDG_DATA_HOME/jobrelay`` (~/.local/share/jobrelay)."""
    if os.environ.get("JOBRELAY_HOME"):
        return Path(os.environ["JOBRELAY_HOME"])
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "jobrelay"


def ready_home(home: Path | None = None) -> Path:
    """The state dir, created if missing; ``StateDirError`` naming it and the cause."""
    home = home or home_dir()
    origin = "$JOBRELAY_HOME" if os.environ.get("JOBRELAY_HOME") else "state dir"
    try:
        home.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise StateDirError(f"{origin} {home}: exists and is not a directory") from None
    except OSError as exc:
        raise StateDirError(f"{origin} {home}: cannot create: {exc.strerror or exc}") from None
    if not os.access(home, os.W_OK | os.X_OK):
        raise StateDirError(f"{origin} {home}: not writable") from None
    return home
