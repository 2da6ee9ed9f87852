"""The gate behind a real sshd, as a site installs it.

A fresh key is added to host1's authorized_keys with
``command="/usr/bin/python3 -S <gate.pyz> --run-root … --allow-agent --log …",restrict``
(the line is removed again afterwards). Through it: ``ssh host true`` and
``ssh host cat /etc/passwd`` are refused, rsync into and out of the run
root works, rsync out of it is refused, and the agent form runs the agent.
"""

from __future__ import annotations

import json
import os
import pwd
import shutil
import subprocess
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, List

import pytest
from conftest import Infra, require
from gate_harness import AGENT_NAME

from jobrelay.zipapps import build_gate

HOST = "host1"


@dataclass(frozen=True)
class GatedHost:
    ssh_config: Path
    root: Path
    log: Path
    home: str
    work: Path

    def ssh(self, *words: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            ["ssh", "-F", str(self.ssh_config), "gated", *words],
            capture_output=True,
            text=True,
            timeout=60,
            stdin=subprocess.DEVNULL,
        )

    def rsync(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            ["rsync", "-e", f"ssh -F {self.ssh_config}", *args],
            capture_output=True,
            text=True,
            timeout=120,
        )


def _ssh_settings(infra: Infra) -> dict:
    out = subprocess.run(
        ["ssh", "-G", "-F", infra.ssh_config, HOST], capture_output=True, text=True, check=True
    ).stdout
    settings = {}
    for line in out.splitlines():
        key, _, value = line.partition(" ")
        settings.setdefault(key, value)
    return settings


def _authorized_keys(infra: Infra, user: str, home: str) -> Path:
    """The file host1's sshd reads keys from (its AuthorizedKeysFile)."""
    value = ".ssh/authorized_keys"
    config = infra.data.get("sshd_configs", {}).get(HOST)
    if config:
        for line in Path(config).read_text().splitlines():
            words = line.split()
            if len(words) >= 2 and words[0].lower() == "authorizedkeysfile":
                value = words[1]
                break
    value = value.replace("%u", user).replace("%h", home).replace("%%", "%")
    return Path(value) if value.startswith("/") else Path(home) / value


def _own(path: Path, user: pwd.struct_passwd) -> None:
    os.chown(path, user.pw_uid, user.pw_gid)


@pytest.fixture
def gated(infra: Infra) -> Iterator[GatedHost]:
    require(infra, "ssh")
    host = infra.hosts[HOST]
    user = pwd.getpwnam(host["user"])
    home = host["home"]
    tag = f"gate-e2e-{os.getpid()}"
    work = Path(tempfile.mkdtemp(prefix="jobrelay-gate-"))
    work.chmod(0o755)  # the host user must read the gate
    pyz = build_gate(work / "jobrelay-gate.pyz")
    key = work / "key"
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", tag, "-f", str(key)], check=True
    )
    key.chmod(0o600)
    root = Path(home) / tag
    root.mkdir()
    (root / ".jobrelay").mkdir()
    with zipfile.ZipFile(root / ".jobrelay" / AGENT_NAME, "w") as zf:  # stand-in agent
        zf.writestr("__main__.py", "import json, sys\nprint(json.dumps(sys.argv))\n")
    for p in (root, root / ".jobrelay", root / ".jobrelay" / AGENT_NAME):
        _own(p, user)
    log = Path(home) / f".{tag}.log"
    forced = f"/usr/bin/python3 -S {pyz} --run-root {root} --allow-agent --log {log}"
    line = f'command="{forced}",restrict {(work / "key.pub").read_text().strip()}\n'
    authorized = _authorized_keys(infra, user.pw_name, home)
    with open(authorized, "a") as fh:
        fh.write(line)
    s = _ssh_settings(infra)
    cfg = work / "ssh_config"
    cfg.write_text(
        "Host gated\n"
        f"  HostName {s['hostname']}\n  Port {s['port']}\n  User {s['user']}\n"
        f"  IdentityFile {key}\n  IdentitiesOnly yes\n  BatchMode yes\n"
        f"  StrictHostKeyChecking yes\n  UserKnownHostsFile {s['userknownhostsfile']}\n"
        "  GlobalKnownHostsFile /dev/null\n  LogLevel ERROR\n"
    )
    try:
        yield GatedHost(cfg, root, log, home, work)
    finally:
        # remove only our line: other tests may share this file
        kept = [ln for ln in authorized.read_text().splitlines(True) if ln != line]
        authorized.write_text("".join(kept))
        shutil.rmtree(root, ignore_errors=True)
        if log.exists():
            log.unlink()
        shutil.rmtree(work, ignore_errors=True)


def _refused(result: subprocess.CompletedProcess, reason: str) -> None:
    assert result.returncode == 1, (result.returncode, result.stderr)
    assert f"jobrelay-gate: refused: {reason}" in result.stderr


def test_commands_are_refused(gated: GatedHost) -> None:
    _refused(gated.ssh("true"), "'true' is not allowed")
    _refused(gated.ssh("cat", "/etc/passwd"), "command 'cat' is not allowed")
    pwned = gated.root / "pwned"
    _refused(gated.ssh(f"id; touch {pwned}"), "shell metacharacter ';'")
    _refused(gated.ssh("sh", "-c", f"'touch {pwned}'"), "command 'sh' is not allowed")
    assert not pwned.exists()
    log = gated.log.read_text().splitlines()
    assert len(log) == 4 and all("refused" in line for line in log)
    assert all("client='127." in line for line in log)


def test_rsync_in_and_out_of_the_run_root(gated: GatedHost) -> None:
    src = gated.work / "src"
    src.mkdir()
    (src / "job").write_text("echo hi\n")
    pushed = gated.rsync("-a", "--mkpath", f"{src}/", "gated:jobs/j1/")
    assert pushed.returncode == 0, pushed.stderr
    landed = gated.root / "jobs" / "j1" / "job"
    assert landed.read_text() == "echo hi\n"
    assert landed.stat().st_uid == pwd.getpwnam(gated.root.owner()).pw_uid

    back = gated.work / "back"
    pulled = gated.rsync("-a", "gated:jobs/j1/", f"{back}/")
    assert pulled.returncode == 0, pulled.stderr
    assert (back / "job").read_text() == "echo hi\n"

    escaped: List[subprocess.CompletedProcess] = [
        gated.rsync("-a", f"{src}/", "gated:../escaped/"),
        gated.rsync("-a", "gated:~/.ssh/authorized_keys", f"{back}/"),
    ]
    for result in escaped:
        assert result.returncode != 0
        assert "jobrelay-gate: refused:" in result.stderr
    assert not (Path(gated.home) / "escaped").exists()
    assert not (back / "authorized_keys").exists()


def test_agent_runs_confined(gated: GatedHost) -> None:
    agent = f"~/{gated.root.name}/.jobrelay/{AGENT_NAME}"
    result = gated.ssh("python3", "-S", agent)
    assert result.returncode == 0, result.stderr
    argv = json.loads(result.stdout)
    assert argv[1:] == ["--confine", str(gated.root)]
    _refused(gated.ssh("python3", "-c", "'print(1)'"), "python3 option '-c' is not allowed")
