"""The test infrastructure of tests/infra/up.sh is real, not a stand-in.

Each test exercises a component the way jobrelay will: ssh to a job host as its
own user, one account behind two host names, ``sbatch -M`` to the second
cluster, ``at``, and the SSH-free host that takes rsync and refuses everything else.
"""

from __future__ import annotations

import os
import re
import subprocess
import uuid
from pathlib import Path
from typing import Dict, List, Optional

from conftest import Infra, require

TIMEOUT = 60


def run(
    argv: List[str],
    *,
    stdin: str = "",
    env: Optional[Dict[str, str]] = None,
    cwd: str = "/",
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        argv,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        env=env,
        cwd=cwd,
        check=False,
    )


def ssh(infra: Infra, host: str, *remote: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return run(["ssh", "-F", infra.ssh_config, host, "--", *remote], stdin=stdin)


def test_host1_is_its_own_user_and_cannot_read_host2(infra: Infra) -> None:
    require(infra, "ssh")
    who = ssh(infra, "host1", "id", "-un")
    assert who.returncode == 0, who.stderr
    assert who.stdout.strip() == "rjhost1"
    peek = ssh(infra, "host1", "ls", infra.hosts["host2"]["home"])
    assert peek.returncode != 0
    assert "Permission denied" in peek.stderr


def test_host2_and_host2b_are_two_sshds_on_one_home(infra: Infra) -> None:
    require(infra, "ssh")
    token = uuid.uuid4().hex
    name = f"infra-probe-{token}"
    wrote = ssh(infra, "host2", "tee", name, stdin=token)
    assert wrote.returncode == 0, wrote.stderr
    try:
        read = ssh(infra, "host2b", "cat", name)
        assert read.returncode == 0, read.stderr
        assert read.stdout == token
        # two different servers: each session reports the address it reached
        reached = [ssh(infra, h, "printenv", "SSH_CONNECTION") for h in ("host2", "host2b")]
        servers = {r.stdout.split()[2] for r in reached}
        assert servers == {infra.hosts["host2"]["ip"], infra.hosts["host2b"]["ip"]}
    finally:
        ssh(infra, "host2", "rm", "-f", name)


def test_sbatch_to_second_cluster_as_test_user(infra: Infra) -> None:
    require(infra, "slurm")
    slurm = infra.data["slurm"]
    env = dict(os.environ, SLURM_CONF=slurm["conf"])
    sbatch = ["sbatch", "-M", "rjtest2", "--parsable", "-D", "/tmp", "-o", "/dev/null"]
    out = run(
        ["runuser", "-u", "rjhost1", "--", *sbatch, "-J", "infra-probe", "--wrap", "sleep 300"],
        env=env,
    )
    assert out.returncode == 0, out.stderr
    match = re.fullmatch(r"(\d+);rjtest2", out.stdout.strip())
    assert match, out.stdout
    job_id = match.group(1)
    try:
        queued = run(["squeue", "-M", "rjtest2", "-h", "-j", job_id, "-o", "%u %j"], env=env)
        assert queued.returncode == 0, queued.stderr
        assert "rjhost1 infra-probe" in queued.stdout
    finally:
        cancel = run(["scancel", "-M", "rjtest2", job_id], env=env)
        assert cancel.returncode == 0, cancel.stderr


def test_at_queue_takes_a_users_job(infra: Infra) -> None:
    require(infra, "at")
    sub = run(["runuser", "-u", "rjhost1", "--", "at", "now", "+", "2", "hours"], stdin="true\n")
    assert sub.returncode == 0, sub.stderr
    match = re.search(r"^job (\d+) at ", sub.stderr, re.MULTILINE)
    assert match, sub.stderr
    job_id = match.group(1)
    try:
        listed = run(["runuser", "-u", "rjhost1", "--", "atq"])
        assert listed.returncode == 0, listed.stderr
        assert any(line.split()[0] == job_id for line in listed.stdout.splitlines())
    finally:
        run(["atrm", job_id])


def test_sshfree_host_takes_rsync_only_into_a_private_run_root(
    infra: Infra, tmp_path: Path
) -> None:
    require(infra, "sshfree")
    sf = infra.data["sshfree"]
    cfg = sf["ssh_config"]
    host = sf["host"]

    shell = run(["ssh", "-F", cfg, host, "id"])
    assert shell.returncode != 0
    assert "uid=" not in shell.stdout
    passwd = run(["ssh", "-F", cfg, host, "cat", "/etc/passwd"])
    assert passwd.returncode != 0
    assert "root:" not in passwd.stdout

    token = uuid.uuid4().hex
    src = tmp_path / f"probe-{token}"
    src.mkdir()
    (src / "input.txt").write_text(token)
    push = run(["rsync", "-a", "-e", f"ssh -F {cfg}", f"{src}/", f"{host}:probe-{token}/"])
    assert push.returncode == 0, push.stderr
    inside = ["nsenter", f"--mount={sf['mntns']}", "--"]
    try:
        seen_in_ns = run([*inside, "cat", f"{sf['run_root']}/probe-{token}/input.txt"])
        assert seen_in_ns.stdout == token, seen_in_ns.stderr
        assert not (Path(sf["run_root"]) / f"probe-{token}").exists()
        back = tmp_path / "back"
        remote = f"{host}:probe-{token}/input.txt"
        pull = run(["rsync", "-a", "-e", f"ssh -F {cfg}", remote, f"{back}/"])
        assert pull.returncode == 0, pull.stderr
        assert (back / "input.txt").read_text() == token
    finally:
        run([*inside, "rm", "-rf", f"{sf['run_root']}/probe-{token}"])
