"""The typed platform: what the rest of the controller reads from the config."""

from __future__ import annotations

import enum

from jobrelay.runners.base import Directives
from jobrelay.transport.ssh_command import DEFAULT_SSH_COMMAND

from ..host_dataclasses import dataclass, field
from .rates import UNLIMITED, Rate

DEFAULT_RSYNC_COMMAND = ("rsync",)
DEFAULT_RUN_ROOT = "~/jobrelay-run"
LOCALHOST = "localhost"
# The polling budget's defaults (docs/configuration.md): a batch scheduler's
# server is asked at most once per 10 s per endpoint by all of the user's
# jobrelay processes together (AiiDA's default minimum poll interval); a
# host's process table (background, at) is read by the agent call itself,
# which the ssh connection budget bounds.
SCHEDULER_QUERIES = Rate(6, 60.0)
HOST_QUERIES = UNLIMITED
SCHEDULER_SUBMITS = Rate(600, 60.0)  # jobs handed to a batch scheduler, all processes
SSH_CONNECTIONS = Rate(60, 60.0)  # new ssh connections per host (multiplexed sessions are free)


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
    # the polling budget (manager/budget.py): None = the runner's default
    runner_queries: Rate | None = None
    ssh_connections: Rate = SSH_CONNECTIONS
    endpoint: str | None = None  # the budget's endpoint name; None: runner@cluster or hosts
    submit_rate: Rate | None = None  # jobs submitted per window; None = the runner's default
    # poll delays while waiting (manager/schedule.py): ceilings by state, None = by runner
    poll_submitted: float | None = None
    poll_running: float | None = None
    poll_near_limit: float = 5.0  # ceiling around a running job's time limit


def embedded_default() -> dict[str, Platform]:
    """The platforms that exist with no config file: ``localhost`` only."""
    return {LOCALHOST: Platform(name=LOCALHOST)}
