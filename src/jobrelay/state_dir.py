"""Where the controller keeps its state (the ledger, the agent build, bad-host
memory, fetched logs): light to import, so that commands which only read the
ledger do not load the controller."""

from __future__ import annotations

import os

TYPE_CHECKING = False  # importing typing costs a one-shot command's start: names for mypy only
if TYPE_CHECKING:
    from pathlib import Path


class StateDirError(Exception):
    """The state dir cannot be used (a file in its place, no permission)."""


def home_dir() -> Path:
    """State dir: ``$JOBRELAY_HOME``, else ``$XDG_DATA_HOME/jobrelay`` (~/.local/share/jobrelay)."""
    from pathlib import Path

    return Path(home_text())


def ready_home(home: Path | None = None) -> Path:
    """The state dir, created if missing; ``StateDirError`` naming it and the cause."""
    from pathlib import Path

    return Path(ready_home_text(home))


# The same as text: one-shot commands (`list`, `status`) start without pathlib,
# which brings urllib.parse and ipaddress with it.
def home_text() -> str:
    if os.environ.get("JOBRELAY_HOME"):
        return os.environ["JOBRELAY_HOME"]
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(
        os.path.expanduser("~"), ".local", "share"
    )
    return os.path.join(base, "jobrelay")


def ready_home_text(home: str | os.PathLike[str] | None = None) -> str:
    home = os.fspath(home) if home else home_text()
    origin = "$JOBRELAY_HOME" if os.environ.get("JOBRELAY_HOME") else "state dir"
    try:
        os.makedirs(home, exist_ok=True)
    except FileExistsError:
        raise StateDirError(f"{origin} {home}: exists and is not a directory") from None
    except OSError as exc:
        raise StateDirError(f"{origin} {home}: cannot create: {exc.strerror or exc}") from None
    if not os.access(home, os.W_OK | os.X_OK):
        raise StateDirError(f"{origin} {home}: not writable") from None
    return home
