"""The real CLI against the real sshd hosts: platforms over ssh with a private run root."""

from __future__ import annotations

import json
import shutil
import subprocess
import uuid
from pathlib import Path
from typing import Any

from cli_harness import Cli
from conftest import Infra

ROOT = Path(__file__).resolve().parent.parent
SSHDCTL = ROOT / "tests" / "infra" / "sshdctl.sh"


def ssh_platform(
    name: str, hosts: list[str], target: str, infra: Infra, run_root: str, **extra: Any
) -> str:
    keys = {
        "hosts": hosts,
        "transport": "ssh",
        "install_target": target,
        "ssh_command": ["ssh", "-F", infra.ssh_config, "-oConnectTimeout=5"],
        "run_root": run_root,
        "command_timeout": 60,
        **extra,
    }
    body = "".join(f"{k} = {json.dumps(v)}\n" for k, v in keys.items())
    return f"[platforms.{name}]\n{body}\n"


class SshCli(Cli):
    """A Cli whose run root lives on the hosts' home dirs (``~/<name>``)."""

    def __init__(self, tmp: Path, infra: Infra, toml: str, root_name: str) -> None:
        config = tmp / "platforms.toml"
        config.write_text(toml, encoding="utf-8")
        super().__init__(home=tmp / "home", config=config, run_root=tmp / "unused")
        self.infra = infra
        self.root_name = root_name
        self.extra_env: dict[str, str] = {}

    def env(self) -> dict[str, str]:
        return {**super().env(), **self.extra_env}

    def host_root(self, host: str) -> Path:
        return Path(self.infra.hosts[host]["home"]) / self.root_name

    def host_job_dir(self, host: str, job: dict[str, Any]) -> Path:
        return self.host_root(host) / job["job_dir"]

    def installs(self) -> dict[str, Any]:
        path = self.home / "installs.json"
        return dict(json.loads(path.read_text())["targets"]) if path.exists() else {}

    def cleanup(self) -> None:
        for host in ("host1", "host2"):
            shutil.rmtree(self.host_root(host), ignore_errors=True)


def unique_root() -> str:
    return f"jobrelay-run-{uuid.uuid4().hex[:10]}"


def sshdctl(action: str, host: str) -> None:
    subprocess.run(["bash", str(SSHDCTL), action, host], check=True, timeout=60)
