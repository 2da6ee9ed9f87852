"""State changes as they are found: one polling loop, many consumers.

    async with Session.open() as jr, Hub(jr) as hub:
        async for change in hub.changes(run="cycle-1"):
            print(change.job.ref, change.old, "->", change.new)

``Background`` is the same for synchronous code (an event loop in a thread).
See docs/library.md.
"""

from .background import Background
from .change import StateChange
from .hub import Hub, Subscription, Watch

__all__ = ["Background", "Hub", "StateChange", "Subscription", "Watch"]
