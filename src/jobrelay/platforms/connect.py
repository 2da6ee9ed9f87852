"""Build the transport a platform asks for."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from jobrelay.transport.base import Transport
from jobrelay.transport.local import LocalTransport
from jobrelay.transport.ssh import SshTransport
from jobrelay.transport.sshfree import SshFreeTransport

from .model import Platform, TransportKind


def transport_for(
    platform: Platform, admit: Callable[[str], Awaitable[None]] | None = None
) -> Transport:
    """``admit(host)``: awaited before each new ssh connection (the polling budget)."""
    if platform.transport is TransportKind.LOCAL:
        return LocalTransport()
    ssh = SshTransport(
        platform.ssh_command,
        platform.rsync_command,
        multiplex=platform.multiplex,
        control_persist=platform.control_persist,
        admit=admit,
    )
    if platform.transport is TransportKind.SSH_FREE:
        return SshFreeTransport(ssh)
    return ssh
