"""Issue 7 safety: job dirs and listed paths never reach outside hostH's run root.

Three layers, each shown on the real host (tests/infra/up.sh's hostH, key
restricted by jobrelay's gate to rsync):
- the SSH-free caller refuses job dirs that escape the run root before they
  go into an rsync file list (as the agent does);
- paths in ``--files-from=-`` travel inside rsync's protocol, where the gate
  cannot see them: rsync's server drops ``..`` and absolute entries itself,
  and the ``--confine-root`` the gate adds refuses entries that pass through
  a symlink leading out. A control run of the same rsync without
  ``--confine-root`` shows that the symlink case would leak;
- a pulled ``job.status`` that is a symlink is not followed on the controller.
"""

from __future__ import annotations

import asyncio
import subprocess
import uuid
from pathlib import Path

import pytest
from conftest import Infra
from sshfree_harness import SshFreeHost, sshfree_host

from jobrelay.engine.protocol import JobRequest
from jobrelay.manager.agent_reply import AgentReply
from jobrelay.manager.sshfree import SshFreeCaller
from jobrelay.platforms.connect import transport_for
from jobrelay.platforms.model import Platform, TransportKind

ESCAPES = ["../escape", "/etc", "~/x", "a/../../b", "./a", "a//b", "a/.", "a\nb"]


@pytest.fixture
def host(infra: Infra, tmp_path: Path) -> SshFreeHost:
    return sshfree_host(infra, tmp_path / "h")


def platform(host: SshFreeHost) -> Platform:
    return Platform(
        name="hfree",
        hosts=(str(host.data["host"]),),
        transport=TransportKind.SSH_FREE,
        runner="slurm",
        install_target=str(host.data["host"]),
        ssh_command=("ssh", "-F", str(host.data["ssh_config"])),
        run_root=host.run_root,
        cluster=str(host.data["cluster"]),
        runner_prefix=(
            str(host.runner_log.parent / "count-runner"),
            "runuser",
            "-u",
            str(host.data["user"]),
            "--",
            "env",
            f"SLURM_CONF={host.slurm_conf}",
        ),
    )


def call(host: SshFreeHost, home: Path, verb: str, jobs: list[JobRequest]) -> AgentReply:
    plat = platform(host)

    async def go() -> AgentReply:
        transport = transport_for(plat)
        try:
            caller = SshFreeCaller(plat, transport, home)
            return await caller.call(str(host.data["host"]), verb, jobs, timeout=60)
        finally:
            await transport.close()

    return asyncio.run(go())


def test_escaping_job_dirs_are_refused_on_every_verb(host: SshFreeHost, tmp_path: Path) -> None:
    tag = uuid.uuid4().hex[:8]
    good = f"sfp-{tag}/ok"
    for verb in ("submit", "poll", "kill"):
        jobs = [
            JobRequest(job=f"r/{i}", dir=d.replace("escape", f"escape-{tag}"), runner="slurm")
            for i, d in enumerate(ESCAPES)
        ]
        jobs.append(JobRequest(job="r/good", dir=good, runner="slurm", script="echo hi\n"))
        before = len(host.gate_lines())
        reply = call(host, tmp_path / "home", verb, jobs)
        assert reply.complete, reply
        for i, d in enumerate(ESCAPES):
            line = reply.replies[f"r/{i}"]
            assert line.error and "job dir" in line.error, (verb, d, line)
            assert line.runner_id is None
        assert "r/good" in reply.replies
        # the good job still went through its one rsync
        assert len(host.gate_lines()) - before >= 1
        if verb == "submit":
            assert reply.replies["r/good"].runner_id, reply.replies["r/good"]
    try:
        outside = host.inside("ls", "-a", str(Path(host.run_root).parent))
        assert f"escape-{tag}" not in outside.stdout
        assert host.inside("test", "-f", f"{host.run_root}/{good}/job").returncode == 0
    finally:
        rid = call(host, tmp_path / "home", "kill", [JobRequest(job="g", dir=good)])
        assert rid.complete
        host.inside("rm", "-rf", f"{host.run_root}/sfp-{tag}")


def test_a_symlinked_status_file_is_not_followed(host: SshFreeHost, tmp_path: Path) -> None:
    tag = uuid.uuid4().hex[:8]
    job_dir = f"sfp-{tag}/evil"
    user = str(host.data["user"])
    made = host.inside(
        "runuser", "-u", user, "--", "bash", "-c",
        'mkdir -p "$1" && ln -s /etc/passwd "$1/job.status"', "-", f"{host.run_root}/{job_dir}",
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    try:
        reply = call(
            host, tmp_path / "home", "poll", [JobRequest(job="r/evil", dir=job_dir, runner_id="1")]
        )
        status = reply.replies["r/evil"].status
        assert status is not None and any("symlink" in p for p in status.problems), status
        assert "root" not in repr(status)
    finally:
        host.inside("rm", "-rf", f"{host.run_root}/sfp-{tag}")


HOSTILE_LISTS = [
    "../../../etc/passwd",
    "/etc/passwd",
    "probe/../../../etc/passwd",
    "probe/esc/secret",
]


def pull(listed: str, remote: str, dest: Path, rsh: list[str]) -> subprocess.CompletedProcess[str]:
    argv = ["rsync", "-lpt", "--files-from=-", "--from0", "--ignore-missing-args", "-e"]
    argv += [" ".join(rsh), remote, f"{dest}/"]
    return subprocess.run(argv, input=listed + "\0", capture_output=True, text=True, timeout=60)


def test_files_from_entries_stay_in_the_run_root(host: SshFreeHost, tmp_path: Path) -> None:
    tag = uuid.uuid4().hex[:8]
    outside = Path(f"/tmp/jr-sfp-outside-{tag}")  # /tmp is shared with hostH's namespace
    outside.mkdir()
    (outside / "secret").write_text(f"SECRET-{tag}\n")
    subprocess.run(["chown", "-R", str(host.data["user"]), str(outside)], check=True)
    probe = f"{host.run_root}/sfp-{tag}/probe"
    made = host.inside(
        "runuser", "-u", str(host.data["user"]), "--", "bash", "-c",
        'mkdir -p "$1" && ln -s "$2" "$1/esc"', "-", probe, str(outside),
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    try:
        rsh = ["ssh", "-F", str(host.data["ssh_config"])]
        remote = f"{host.data['host']}:{host.run_root}/sfp-{tag}/"
        for listed in HOSTILE_LISTS:
            dest = tmp_path / f"pulled-{HOSTILE_LISTS.index(listed)}"
            got = pull(listed, remote, dest, rsh)
            leaked = [p for p in dest.rglob("*") if p.is_file()] if dest.exists() else []
            assert leaked == [], (listed, got.stderr)
        # control: the same rsync server without the gate's --confine-root follows
        # the symlink, so the refusal above is the gate's doing
        control = tmp_path / "control-root"
        (control / "probe").mkdir(parents=True)
        (control / "probe" / "esc").symlink_to(outside)
        rsh_script = tmp_path / "plain-rsh"
        rsh_script.write_text(f"#!/bin/bash\nshift\ncd {control} && exec $@\n")
        rsh_script.chmod(0o755)
        dest = tmp_path / "control-pulled"
        got = pull("probe/esc/secret", "x:.", dest, [str(rsh_script)])
        assert (dest / "probe" / "esc" / "secret").read_text() == f"SECRET-{tag}\n", got.stderr
    finally:
        host.inside("rm", "-rf", f"{host.run_root}/sfp-{tag}")
        subprocess.run(["rm", "-rf", str(outside)], check=False)
