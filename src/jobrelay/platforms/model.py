"""The typed platform: what the rest of the controller reads from the config."""

from __future__ import annotations

import enum

from jobrelay.runners.base import Directives
from jobrelay.transport.ssh_command import DEFAULT_SSH_COMMAND

from ..host_dataclasses import dataclass, field

DEFAULT_RSYNC_COMMAND = ("rsync",)
DEFAULT_RUN_ROOT = "~/jobrelay-run"
LOCALHOST = "localhost"


class Selection(enum.Enum):
    ORDER = "order"
    RANDOM = "random"


class TransportKind(enum.Enum):
    LOCAL = "local"  # commands and files on this machine
    SSH = "ssh"  # commands over ssh, files over rsync+ssh
    SSH_FREE = "ssh-free"  # runner commands run here, files over rsync+ssh


@dataclass(frozen=True)
class Platform:
    """One named way to run jobs. Every field is validated by ``config.load_config``."""

    name: str
    hosts: tuple[str, ...] = (LOCALHOST,)
    selection: Selection = Selection.ORDER
    transport: TransportKind = TransportKind.LOCAL
    runner: str = "background"
    install_target: str = LOCALHOST
    ssh_command: tuple[str, ...] = DEFAULT_SSH_COMMAND
    rsync_command: tuple[str, ...] = DEFAULT_RSYNC_COMMAND
    run_root: str = DEFAULT_RUN_ROOT
    max_batch: int = 100
    cluster: str | None = None
    directives: Directives = field(default_factory=Directives)
    # additions beyond the DESIGN.md contract (documented in docs/configuration.md)
    python: tuple[str, ...] = ("python3",)  # how to start Python on the job host
    command_timeout: float = 60.0  # seconds for one transport command (ssh, rsync)
    bad_host_ttl: float = 300.0  # seconds an unreachable host is skipped
    runner_prefix: tuple[str, ...] = ()  # ssh-free: prefix of local runner commands
    multiplex: bool = True  # ssh ControlMaster
    control_persist: int = 300  # seconds an idle master connection stays up
    submit_retry_budget: int = 2  # extra submit attempts on other hosts after unreachable
    # poll/kill requests carry no scripts: one call (so one runner query) for many
    max_poll_batch: int = 1000
    kill_grace: float = 5.0  # seconds a kill waits before the harder kill (TERM -> KILL)
    kill_timeout: float = 60.0  # seconds a kill may take until the job is verified gone


def embedded_default() -> dict[str, Platform]:
    """The platforms that exist with no config file: ``localhost`` only."""
    return {LOCALHOST: Platform(name=LOCALHOST)}
