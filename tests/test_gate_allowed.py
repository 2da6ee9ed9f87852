"""What the gate lets through: real rsync pushes and pulls, and the agent.

The transfers use the real rsync client and server. rsync's ``-e`` points
at a small script that does what sshd does for a forced command: it puts
the client's command in SSH_ORIGINAL_COMMAND and runs the gate (the
zipapp, under ``/usr/bin/python3 -S``, as a site installs it).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import List

import pytest
from gate_harness import AGENT_NAME, SRC, Sandbox, make_sandbox, run_gate

from jobrelay.gate.command_line import split_command
from jobrelay.gate.decision import Refused
from jobrelay.zipapps import build_gate

RSYNC = shutil.which("rsync")
HOST_PYTHON = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable


@pytest.fixture
def box(tmp_path: Path) -> Sandbox:
    return make_sandbox(tmp_path)


def _forced_command_shell(box: Sandbox, gate_args: List[str]) -> Path:
    """A stand-in for ssh + sshd: ``SCRIPT HOST COMMAND...`` runs the gate."""
    pyz = build_gate(box.base / "jobrelay-gate.pyz")
    script = box.base / "fake-ssh"
    quoted = " ".join(f"'{a}'" for a in [HOST_PYTHON, "-S", str(pyz), *gate_args])
    # ssh joins the remote words with spaces; sshd hands them over as one string.
    script.write_text(f'#!/bin/sh\nshift\nSSH_ORIGINAL_COMMAND="$*" exec {quoted}\n')
    script.chmod(0o755)
    return script


def _rsync(shell: Path, *args: str) -> subprocess.CompletedProcess:
    assert RSYNC, "rsync is not installed (apt-get install rsync)"
    return subprocess.run(
        [RSYNC, "-e", str(shell), *args], capture_output=True, text=True, timeout=120
    )


def _gate_args(box: Sandbox, *more: str) -> List[str]:
    return ["--run-root", str(box.root), "--log", str(box.log), *more]


def test_push_and_pull_through_the_gate(box: Sandbox) -> None:
    shell = _forced_command_shell(box, _gate_args(box))
    src = box.base / "local" / "j2"
    src.mkdir(parents=True)
    (src / "job").write_text("#!/bin/bash\necho hi\n")
    (src / "odd name;$x").write_text("shell characters in a file name\n")
    pushed = _rsync(shell, "-a", "--mkpath", f"{src}/", "gatehost:jobs/j2/")
    assert pushed.returncode == 0, pushed.stderr
    assert (box.root / "jobs" / "j2" / "job").read_text() == "#!/bin/bash\necho hi\n"
    assert (box.root / "jobs" / "j2" / "odd name;$x").exists()

    back = box.base / "back"
    pulled = _rsync(shell, "-a", "gatehost:jobs/j1/", f"{back}/")
    assert pulled.returncode == 0, pulled.stderr
    assert (back / "job.status").read_text() == "RUNNER=background\n"

    log = box.log.read_text()
    assert log.count("allowed rsync") == 2
    assert box.executed() == []  # the real rsync ran, not the canaries


def test_absolute_path_inside_root_and_delete(box: Sandbox) -> None:
    shell = _forced_command_shell(box, _gate_args(box))
    src = box.base / "local"
    src.mkdir()
    (src / "keep").write_text("k\n")
    (box.root / "jobs" / "j1" / "stale").write_text("s\n")
    res = _rsync(
        shell,
        "-a",
        "--delete",
        "--partial-dir=.rsync-partial",
        f"{src}/",
        f"gatehost:{box.root}/jobs/j1/",
    )
    assert res.returncode == 0, res.stderr
    assert sorted(p.name for p in (box.root / "jobs" / "j1").iterdir()) == ["keep"]


def test_no_delete_option_refuses_delete(box: Sandbox) -> None:
    shell = _forced_command_shell(box, _gate_args(box, "--no-delete"))
    src = box.base / "local"
    src.mkdir()
    res = _rsync(shell, "-a", "--delete", f"{src}/", "gatehost:jobs/j1/")
    assert res.returncode != 0
    assert "refused: rsync option --delete is disabled" in res.stderr
    assert (box.root / "jobs" / "j1" / "job.status").exists()


@pytest.mark.parametrize(
    "args",
    [
        ["-a", "{src}/", "gatehost:../escaped/"],
        ["-a", "{src}/", "gatehost:/tmp/escaped/"],
        ["-a", "{src}/", "gatehost:link_out/escaped/"],
        ["-a", "--rsync-path=touch {pwned}; rsync", "{src}/", "gatehost:jobs/"],
        ["-a", "-M--log-file={pwned}", "{src}/", "gatehost:jobs/"],
        ["-a", "gatehost:link_out/secret", "{back}/"],
    ],
    ids=["dotdot", "absolute", "symlink-out", "rsync-path", "remote-option", "pull-symlink"],
)
def test_real_client_escapes_are_refused(box: Sandbox, args: List[str]) -> None:
    shell = _forced_command_shell(box, _gate_args(box))
    src = box.base / "local"
    src.mkdir()
    (src / "f").write_text("f\n")
    filled = [a.format(src=src, pwned=box.pwned, back=box.base / "back") for a in args]
    res = _rsync(shell, *filled)
    assert res.returncode != 0
    assert "jobrelay-gate: refused:" in res.stderr
    assert not (box.base / "escaped").exists() and not Path("/tmp/escaped").exists()
    assert not (box.outside / "escaped").exists()
    assert not (box.base / "back" / "secret").exists()
    assert not box.pwned.exists()


def _dummy_agent(path: Path) -> None:
    """A stand-in agent (the real one is built elsewhere): prints its argv."""
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("__main__.py", "import json, sys\nprint(json.dumps(sys.argv))\n")


def test_agent_is_execed_with_confine(box: Sandbox) -> None:
    _dummy_agent(box.agent)
    res = run_gate(box, f"python3 -S {box.agent}", ["--allow-agent"], canaries=False)
    assert res.returncode == 0, res.stderr
    argv = json.loads(res.stdout)
    assert argv == [str(box.agent.resolve()), "--confine", str(box.root.resolve())]
    assert "allowed agent" in box.log.read_text()


def test_agent_home_relative_path(box: Sandbox) -> None:
    _dummy_agent(box.agent)
    command = f"python3 ~/run/.jobrelay/{AGENT_NAME}"
    res = run_gate(box, command, ["--allow-agent"], canaries=False, env={"HOME": str(box.base)})
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)[1:] == ["--confine", str(box.root.resolve())]


def test_gate_runs_from_its_zipapp(box: Sandbox) -> None:
    pyz = build_gate(box.base / "g.pyz")
    env = dict(os.environ, SSH_ORIGINAL_COMMAND="id")
    env.pop("PYTHONPATH", None)
    res = subprocess.run(
        [HOST_PYTHON, "-S", str(pyz), "--run-root", str(box.root)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        cwd="/",
    )
    assert res.returncode == 1
    assert res.stderr.startswith("jobrelay-gate: refused: command 'id' is not allowed")
    assert build_gate(box.base / "g2.pyz").read_bytes() == pyz.read_bytes()


def test_module_entry_point(box: Sandbox) -> None:
    env = dict(os.environ, PYTHONPATH=str(SRC))
    res = subprocess.run(
        [sys.executable, "-m", "jobrelay.gate", "--help"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert res.returncode == 0 and "--allow-agent" in res.stdout


@pytest.mark.parametrize(
    "command, reason",
    [("rsync\0--daemon", "NUL"), ("a" * 70000, "limit 65536"), ("x " + "b" * 4097, "limit 4096")],
    ids=["nul", "overlong-command", "overlong-arg"],
)
def test_split_command_refuses(command: str, reason: str) -> None:
    with pytest.raises(Refused, match=reason):
        split_command(command)


def test_split_command_keeps_rsync_escapes() -> None:
    # what rsync's client sends for a file named  a'b(c)"d`e&f|g<h>#i !j
    sent = "rsync --server . a\\'b\\(c\\)\\\"d\\`e\\&f\\|g\\<h\\>\\#i\\ \\!j"
    assert split_command(sent)[-1] == "a'b(c)\"d`e&f|g<h>#i !j"
