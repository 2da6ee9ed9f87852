"""The ssh transport against the real sshd hosts of the test infrastructure.

Multiplexing is proven from both ends: every command reports the same
client port in $SSH_CONNECTION, and host1's sshd log shows one accepted
login and N sessions for that port.
"""

from __future__ import annotations

import asyncio
import os
import re
import uuid
from pathlib import Path
from typing import Any

import pytest
from conftest import Infra, require
from job_dirs import process_alive, wait_for

from jobrelay.transport.ssh import SshTransport

HOSTILE = [
    "a b",
    "'\"",
    "$(touch PWNED)",
    "`touch PWNED`",
    "x;y",
    "a&&b|c",
    "l1\nl2",
    "*",
    "  lead",
    "back\\slash",
    "-n",
    "",
    "$HOME",
    "é ü",
]


def run(coro: Any) -> Any:
    return asyncio.run(coro)


@pytest.fixture
def ssh(infra: Infra) -> list[str]:
    require(infra, "ssh")
    return ["ssh", "-F", infra.ssh_config]


def home(infra: Infra, host: str = "host1") -> Path:
    return Path(infra.hosts[host]["home"])


async def client_ports(t: SshTransport, n: int) -> list[str]:
    ports = []
    for _ in range(n):
        out = await t.run("host1", ["sh", "-c", "echo $SSH_CONNECTION"], timeout=30)
        assert out.ok, out.describe()
        ports.append(out.stdout.split()[1])
    return ports


def sshd_log(infra: Infra, host: str = "host1", since: int = 0) -> str:
    """The host's sshd log from byte ``since`` on (client ports get reused: read
    only the part a test wrote)."""
    with Path(infra.data["sshd_logs"][host]).open("rb") as stream:
        stream.seek(since)
        return stream.read().decode(errors="replace")


def log_size(infra: Infra, host: str = "host1") -> int:
    return Path(infra.data["sshd_logs"][host]).stat().st_size


def test_runs_as_the_host_user(ssh: list[str]) -> None:
    async def go() -> Any:
        t = SshTransport(ssh)
        try:
            return await t.run("host1", ["id", "-un"], timeout=30)
        finally:
            await t.close()

    out = run(go())
    assert (out.returncode, out.stdout, out.unreachable) == (0, "rjhost1\n", False)


def test_hostile_arguments_arrive_byte_exact(ssh: list[str], infra: Infra) -> None:
    async def go() -> Any:
        t = SshTransport(ssh)
        try:
            return await t.run("host1", ["printf", "%s\\0", *HOSTILE], timeout=30)
        finally:
            await t.close()

    out = run(go())
    assert out.ok, out.describe()
    assert out.stdout.split("\0")[:-1] == HOSTILE
    assert not (home(infra) / "PWNED").exists()


def test_tilde_expands_remotely_and_only_at_the_start(ssh: list[str], infra: Infra) -> None:
    async def go() -> Any:
        t = SshTransport(ssh)
        try:
            return await t.run(
                "host1", ["printf", "%s\\0", "~/a b", "~", "x~/y", "~rjhost2"], timeout=30
            )
        finally:
            await t.close()

    out = run(go())
    h = str(home(infra))
    assert out.stdout.split("\0")[:-1] == [h + "/a b", h, "x~/y", "~rjhost2"]


def test_stdin_and_exit_status(ssh: list[str]) -> None:
    async def go() -> Any:
        t = SshTransport(ssh)
        try:
            return await t.run(
                "host1",
                ["sh", "-c", "cat; echo err >&2; exit 7"],
                stdin=b"line1\nbin\x00ary",
                timeout=30,
            )
        finally:
            await t.close()

    out = run(go())
    assert (out.returncode, out.stdout, out.stderr, out.unreachable) == (
        7,
        "line1\nbin\x00ary",
        "err\n",
        False,
    )


def test_one_connection_for_many_commands(ssh: list[str], infra: Infra) -> None:
    n = 6
    start = log_size(infra)

    async def go() -> tuple[list[str], bool, Path | None]:
        t = SshTransport(ssh)
        try:
            ports = await client_ports(t, n)
            return ports, await t.check_master("host1"), t._control_dir
        finally:
            await t.close()

    ports, master_up, control_dir = run(go())
    assert master_up
    assert len(set(ports)) == 1, ports
    log = sshd_log(infra, since=start)
    port = ports[0]
    accepted = re.findall(rf"Accepted publickey for rjhost1 from \S+ port {port} ", log)
    sessions = re.findall(rf"Starting session: command for rjhost1 from \S+ port {port} ", log)
    assert len(accepted) == 1
    assert len(sessions) == n
    assert control_dir is not None and not control_dir.exists()  # close() removed it


def test_multiplex_off_uses_a_connection_per_command(ssh: list[str], infra: Infra) -> None:
    async def go() -> tuple[list[str], Path | None]:
        t = SshTransport(ssh, multiplex=False)
        try:
            return await client_ports(t, 3), t._control_dir
        finally:
            await t.close()

    ports, control_dir = run(go())
    assert len(set(ports)) == 3
    assert control_dir is None


def test_the_users_own_controlmaster_setting_wins(ssh: list[str]) -> None:
    async def go() -> tuple[list[str], bool]:
        t = SshTransport([*ssh, "-oControlMaster=no"])
        try:
            return await client_ports(t, 2), await t.check_master("host1")
        finally:
            await t.close()

    ports, master_up = run(go())
    assert len(set(ports)) == 2 and not master_up


def test_unreachable_host(ssh: list[str]) -> None:
    async def go() -> Any:
        # the user's -o options come first and win over the config file's
        t = SshTransport([*ssh, "-oHostName=127.0.0.9", "-oPort=1"])
        try:
            return (
                await t.run("host1", ["true"], timeout=60),
                await t.push("host1", Path("/tmp"), ["x"], "~/x", timeout=60),
            )
        finally:
            await t.close()

    out, push = run(go())
    assert out.unreachable and out.returncode == 255 and not out.timed_out
    assert "127.0.0.9" in out.stderr
    assert push.unreachable


def test_timeout_kills_ssh_and_keeps_output(ssh: list[str]) -> None:
    async def go() -> Any:
        t = SshTransport(ssh)
        try:
            return await t.run("host1", ["sh", "-c", "echo started; exec sleep 60"], timeout=5)
        finally:
            await t.close()

    out = run(go())
    assert out.timed_out and out.returncode is None
    assert out.stdout == "started\n"
    assert not out.unreachable  # it had connected: the command spoke


def test_push_and_pull_many_files_in_one_rsync_each(
    ssh: list[str], infra: Infra, tmp_path: Path
) -> None:
    tag = uuid.uuid4().hex[:8]
    root = f"~/jr test {tag}"
    rels = [f"run1/job{i:02d}/01/job" for i in range(40)] + ["run1/odd 'name' $(x);"]
    src = tmp_path / "src"
    for i, rel in enumerate(rels):
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        (src / rel).write_text(f"content {i}\n")
    (src / rels[0]).chmod(0o750)
    back = tmp_path / "back"

    start = log_size(infra)

    async def go() -> Any:
        t = SshTransport(ssh)
        try:
            before = await client_ports(t, 1)
            pushed = await t.push("host1", src, rels, root, timeout=60)
            # same size, same second, new content: --checksum must still send it
            (src / rels[1]).write_text("CONTENT 1\n")
            again = await t.push("host1", src, [rels[1]], root, timeout=60)
            pulled = await t.pull("host1", root, [*rels, "run1/missing"], back, timeout=60)
            after = await client_ports(t, 1)
            await t.run("host1", ["rm", "-rf", root], timeout=60)
            return before, pushed, again, pulled, after
        finally:
            await t.close()

    before, pushed, again, pulled, after = run(go())
    assert pushed.ok, pushed.describe()
    assert again.ok, again.describe()
    assert pulled.ok, pulled.describe()  # the missing file does not fail the others
    assert [(back / r).read_text() for r in rels] == [(src / r).read_text() for r in rels]
    assert (back / rels[1]).read_text() == "CONTENT 1\n"
    assert (back / rels[0]).stat().st_mode & 0o777 == 0o750
    assert not (back / "run1/missing").exists()
    # rsync rode the master connection: 2 probes + 3 rsyncs + 1 rm, all on one
    # port, one session each (one rsync for 41 files, not one per file)
    assert before == after
    sessions = re.findall(
        rf"Starting session: command for rjhost1 from \S+ port {before[0]} ",
        sshd_log(infra, since=start),
    )
    assert len(sessions) == 6


def test_absolute_remote_root(ssh: list[str], infra: Infra, tmp_path: Path) -> None:
    root = home(infra) / f"jr-abs-{uuid.uuid4().hex[:8]}"
    (tmp_path / "a").write_text("A")

    async def go() -> Any:
        t = SshTransport(ssh)
        try:
            pushed = await t.push("host1", tmp_path, ["a"], str(root), timeout=60)
            listed = await t.run("host1", ["cat", str(root / "a")], timeout=60)
            await t.run("host1", ["rm", "-rf", str(root)], timeout=60)
            return pushed, listed
        finally:
            await t.close()

    pushed, listed = run(go())
    assert pushed.ok, pushed.describe()
    assert listed.stdout == "A"


def test_ssh_command_with_awkward_characters_reaches_rsync(infra: Infra, tmp_path: Path) -> None:
    require(infra, "ssh")
    odd = tmp_path / 'it\'s a "dir"'
    odd.mkdir()
    cfg = odd / "ssh config"
    cfg.write_text(Path(infra.ssh_config).read_text())
    (tmp_path / "f").write_text("F")

    async def go() -> Any:
        t = SshTransport(["ssh", "-F", str(cfg)])
        try:
            pushed = await t.push("host1", tmp_path, ["f"], "~/jr-odd-cfg", timeout=60)
            await t.run("host1", ["rm", "-rf", "~/jr-odd-cfg"], timeout=60)
            return pushed
        finally:
            await t.close()

    pushed = run(go())
    assert pushed.ok, pushed.describe()


def test_close_ends_the_master(ssh: list[str]) -> None:
    async def go() -> tuple[str, Path | None]:
        t = SshTransport(ssh)
        await t.run("host1", ["true"], timeout=30)
        assert t.control_path is not None
        check = await asyncio.create_subprocess_exec(
            *ssh,
            f"-oControlPath={t.control_path}",
            "-O",
            "check",
            "host1",
            stderr=asyncio.subprocess.PIPE,
        )
        _, err = await check.communicate()
        directory = t._control_dir
        await t.close()
        await t.close()  # twice is fine
        return err.decode(), directory

    err, directory = run(go())
    pid = int(re.search(r"pid=(\d+)", err).group(1))  # type: ignore[union-attr]
    assert directory is not None and not directory.exists()
    # "-O exit" returns once the master has the request; it exits just after
    wait_for(lambda: not process_alive(pid), f"the master (pid {pid}) to exit")


def test_control_dir_is_private_and_short(ssh: list[str]) -> None:
    async def go() -> Path | None:
        t = SshTransport(ssh)
        try:
            await t.run("host1", ["true"], timeout=30)
            d = t._control_dir
            assert d is not None
            assert d.stat().st_mode & 0o777 == 0o700
            assert d.parent.stat().st_mode & 0o077 == 0
            assert d.parent.stat().st_uid == os.getuid()
            assert len(str(d)) + 1 + 40 + 17 < 104
            return d
        finally:
            await t.close()

    assert run(go()) is not None


@pytest.fixture
def one_session_sshd(infra: Infra, tmp_path: Path) -> Any:
    """A second sshd for host1's account allowing ONE session per connection."""
    require(infra, "ssh")
    import subprocess
    import time

    port = 2299
    original = Path(infra.data["sshd_configs"]["host1"]).read_text()
    host_key = re.search(r"^HostKey (\S+)", original, re.M).group(1)  # type: ignore[union-attr]
    pidfile = tmp_path / "sshd.pid"
    lines = [
        line
        for line in original.splitlines()
        if not line.startswith(("Port ", "PidFile ", "MaxSessions "))
    ]
    conf = tmp_path / "sshd_config"
    conf.write_text("\n".join([*lines, f"Port {port}", f"PidFile {pidfile}", "MaxSessions 1"]))
    subprocess.run(["/usr/sbin/sshd", "-f", str(conf), "-E", str(tmp_path / "log")], check=True)
    for _ in range(100):  # sshd writes its pid file once it listens
        if pidfile.exists() and pidfile.read_text().strip():
            break
        time.sleep(0.05)
    ip = infra.hosts["host1"]["ip"]
    known = tmp_path / "known_hosts"
    key = " ".join(Path(host_key + ".pub").read_text().split()[:2])
    known.write_text(f"[{ip}]:{port} {key}\n")
    yield ["ssh", "-F", infra.ssh_config, f"-oPort={port}", f"-oUserKnownHostsFile={known}"]
    os.kill(int(pidfile.read_text()), 15)


def test_refused_multiplexed_sessions_fall_back_to_plain(one_session_sshd: list[str]) -> None:
    async def go() -> Any:
        t = SshTransport(one_session_sshd)
        try:
            first = await t.run("host1", ["true"], timeout=30)  # becomes the master
            many = await asyncio.gather(
                *[
                    t.run("host1", ["sh", "-c", "sleep 1; echo $SSH_CONNECTION"], timeout=60)
                    for _ in range(3)
                ]
            )
            return first, many
        finally:
            await t.close()

    first, many = run(go())
    assert first.ok, first.describe()
    assert all(out.ok for out in many), [out.describe() for out in many]
    # the server allowed one session per connection: the others had their own
    assert len({out.stdout.split()[1] for out in many}) >= 2
    assert all("mux_client" not in out.stderr for out in many)
