"""transport layer: run commands on job hosts and move files (local, ssh, rsync, ssh-free)."""

from .base import CommandOutcome, Transport
from .local import LocalTransport
from .ssh import SshTransport
from .sshfree import SshFreeTransport

__all__ = ["CommandOutcome", "LocalTransport", "SshFreeTransport", "SshTransport", "Transport"]
