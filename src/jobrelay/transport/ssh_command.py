"""The ssh command a platform uses unless it names its own.

A leaf module: the platform model reads it without importing the transports
(and asyncio with them), so commands that only read the ledger start small.
"""

from __future__ import annotations

DEFAULT_SSH_COMMAND = ("ssh", "-oBatchMode=yes", "-oConnectTimeout=10")
