"""Build the transport a platform asks for."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from .model import Platform, TransportKind

TYPE_CHECKING = False  # importing typing costs a one-shot command's start: names for mypy only
if TYPE_CHECKING:
    from jobrelay.transport.base import Transport


def transport_for(
    platform: Platform, admit: Callable[[str], Awaitable[None]] | None = None
) -> Transport:
    """``admit(host)``: awaited before each new ssh connection (the polling budget)."""
    # each transport's module only for its platforms: a local submit loads no ssh
    if platform.transport is TransportKind.LOCAL:
        from jobrelay.transport.local import LocalTransport

        return LocalTransport()
    from jobrelay.transport.ssh import SshTransport

    ssh = SshTransport(
        platform.ssh_command,
        platform.rsync_command,
        multiplex=platform.multiplex,
        control_persist=platform.control_persist,
        admit=admit,
    )
    if platform.transport is TransportKind.SSH_FREE:
        from jobrelay.transport.sshfree import SshFreeTransport

        return SshFreeTransport(ssh)
    return ssh
