"""A job host in its own network namespace that a test can cut off and heal
(after the recipe in /work/shared/infra/netns.sh, on this infra's files).

The namespace shares the machine's filesystem, so its sshd (host1's
account, rjhost1) serves the same home: the same install target as
``host1``. Cutting puts the namespace's end of the link down: a black hole
(connections time out, established ones stall), not a refusal.
"""

from __future__ import annotations

import random
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from conftest import Infra
from job_dirs import wait_for

PORT = 2222
CATCH_ALL = ["unreachable", "198.18.0.0/15", "metric", "4000"]


def ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", *args], capture_output=True, text=True, check=check)


@dataclass
class NetnsHost:
    infra: Infra
    dir: Path
    alias: str = "nshost"
    i: int = field(default_factory=lambda: random.randint(40, 63))
    added_route: bool = False

    def __post_init__(self) -> None:
        self.ns, self.veth = f"rjfns{self.i}", f"rjvf{self.i}"  # "rjv*": netns.sh's route rule
        self.outer, self.inner = f"198.18.0.{4 * self.i - 3}", f"198.18.0.{4 * self.i - 2}"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.ssh_config = self.dir / "ssh_config"

    def up(self) -> None:
        # packets for the test range never leave by the default route while cut
        self.added_route = CATCH_ALL[1] not in ip("route", "show").stdout
        if self.added_route:
            ip("route", "add", *CATCH_ALL)
        ip("netns", "add", self.ns)
        ip("link", "add", self.veth, "type", "veth", "peer", "name", f"{self.veth}p")
        ip("link", "set", f"{self.veth}p", "netns", self.ns)
        ip("addr", "add", f"{self.outer}/30", "dev", self.veth)
        ip("link", "set", self.veth, "up")
        ip("-n", self.ns, "addr", "add", f"{self.inner}/30", "dev", f"{self.veth}p")
        ip("-n", self.ns, "link", "set", f"{self.veth}p", "up")
        ip("-n", self.ns, "link", "set", "lo", "up")
        base = Path(self.infra.data["sshd_configs"]["host1"]).read_text().splitlines()
        keep = [x for x in base if not x.startswith(("ListenAddress ", "PidFile "))]
        config = self.dir / "sshd_config"
        config.write_text(
            "\n".join([f"ListenAddress {self.inner}", f"PidFile {self.dir / 'sshd.pid'}", *keep])
            + "\n"
        )
        subprocess.run(
            ["ip", "netns", "exec", self.ns, "/usr/sbin/sshd", "-f", str(config),
             "-E", str(self.dir / "sshd.log")],
            check=True,
        )  # fmt: skip
        ssh = Path(self.infra.ssh_config).parent
        key = (ssh / "host1" / "ssh_host_ed25519_key.pub").read_text().split()[:2]
        known = self.dir / "known_hosts"
        known.write_text(f"[{self.inner}]:{PORT} {' '.join(key)}\n")
        self.ssh_config.write_text(
            f"Host {self.alias}\n  HostName {self.inner}\n  User rjhost1\n"
            f"  UserKnownHostsFile {known}\n\n" + Path(self.infra.ssh_config).read_text()
        )
        wait_for(self.answers, "the namespace's sshd")

    def answers(self) -> bool:
        argv = ["ssh", "-F", str(self.ssh_config), "-oConnectTimeout=2", self.alias, "true"]
        return subprocess.run(argv, capture_output=True, timeout=30, check=False).returncode == 0

    def cut(self) -> None:
        ip("-n", self.ns, "link", "set", f"{self.veth}p", "down")

    def heal(self) -> None:
        ip("-n", self.ns, "link", "set", f"{self.veth}p", "up")
        wait_for(self.answers, "the namespace's sshd after the heal")

    def down(self) -> None:
        pidfile = self.dir / "sshd.pid"
        if pidfile.exists():
            subprocess.run(["kill", pidfile.read_text().strip()], check=False)
        ip("netns", "del", self.ns, check=False)  # its background jobs (ours) live on outside
        ip("link", "del", self.veth, check=False)
        others = any(x.startswith("rj") for x in ip("-br", "link").stdout.split())
        if self.added_route and not others:  # another's namespaces may need it
            ip("route", "del", *CATCH_ALL, check=False)
