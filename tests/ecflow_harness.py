"""A real ecflow_server for one test module: its own port, ECF_HOME and jobrelay.

The server runs the three job commands exactly as docs/ecflow.md writes them
(``jobrelay submit -o %ECF_JOBOUT% --platform %SCHOST% %ECF_JOB%`` …): a
``jobrelay`` on its PATH runs this checkout's CLI against a private
JOBRELAY_HOME and config. Suites are loaded from .def text with the usual
head.h/tail.h includes; nothing here needs python3-ecflow.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from conftest import require_that

ROOT = Path(__file__).resolve().parent.parent
DEADLINE = 420.0  # seconds to reach a state: a loaded machine or full queue is slow, not a failure

HEAD_H = """#!/bin/bash
set -e
set -u
export ECF_PORT=%ECF_PORT%
export ECF_HOST=%ECF_HOST%
export ECF_NAME=%ECF_NAME%
export ECF_PASS=%ECF_PASS%
export ECF_TRYNO=%ECF_TRYNO%
export ECF_RID=$$
export ECF_DENIED=1
ecflow_client --init=$$
ERROR() {
    set +e
    wait
    ecflow_client --abort=trap
    trap - 0
    exit 0
}
trap ERROR 0
trap '{ echo "signal received"; ERROR; }' 1 2 3 15
"""

TAIL_H = """wait
ecflow_client --complete
trap - 0
exit 0
"""

# the three lines of docs/ecflow.md, verbatim
JOB_LINES = """  edit ECF_JOB_CMD "jobrelay submit -o %ECF_JOBOUT% --platform %SCHOST% %ECF_JOB%"
  edit ECF_KILL_CMD "jobrelay kill %ECF_JOB% > %ECF_JOB%.kill 2>&1"
  edit ECF_STATUS_CMD "jobrelay status --platform %SCHOST% --write-stat %ECF_JOB%"
"""


@dataclass
class Ecflow:
    home: Path  # ECF_HOME: scripts, includes, job files
    port: int
    jobrelay_home: Path
    config: Path
    remote_root: Path  # where Slurm jobs keep their files on host1 (removed at the end)
    proc: subprocess.Popen[bytes] | None = None

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("ECF_")}
        env["ECF_HOST"] = "localhost"
        env["ECF_PORT"] = str(self.port)
        return env

    def client(self, *args: str, check: bool = True) -> str:
        proc = subprocess.run(
            ["ecflow_client", *args],
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        if check and proc.returncode != 0:
            raise AssertionError(f"ecflow_client {' '.join(args)}: {proc.stderr}{proc.stdout}")
        return proc.stdout

    def ping(self) -> bool:
        ping = ["ecflow_client", "--ping"]
        return subprocess.run(ping, env=self.env(), capture_output=True, timeout=60).returncode == 0

    def state(self, path: str) -> str:
        return self.client("--query", "state", path).strip()

    def variable(self, path: str, name: str) -> str:
        return self.client("--query", "variable", f"{path}:{name}").strip()

    def wait_state(self, path: str, *wanted: str) -> str:
        """Wait until ``path`` is in one of ``wanted`` (or the deadline); its state."""
        end = time.monotonic() + DEADLINE
        while True:
            state = self.state(path)
            if state in wanted or time.monotonic() > end:
                return state
            time.sleep(0.5)

    def load(self, name: str, body: str, scripts: dict[str, str], **variables: str) -> None:
        """Load and begin suite ``name``: ``body`` its families/tasks, ``scripts``
        the .ecf text per task path relative to the suite."""
        for rel, text in scripts.items():
            path = self.home / name / f"{rel}.ecf"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
        edits = "".join(f'  edit {k} "{v}"\n' for k, v in variables.items())
        definition = (
            f"suite {name}\n"
            f'  edit ECF_HOME "{self.home}"\n'
            f'  edit ECF_INCLUDE "{self.home / "include"}"\n'
            "  edit ECF_TRIES 1\n"  # an aborted task stays aborted (no automatic retry)
            f"{JOB_LINES}{edits}{body}endsuite\n"
        )
        def_file = self.home / f"{name}.def"
        def_file.write_text(definition, encoding="utf-8")
        self.client(f"--load={def_file}")
        self.client(f"--begin={name}")

    def job_file(self, task: str, tryno: int = 1) -> Path:
        return self.home / f"{task.lstrip('/')}.job{tryno}"

    def jobrelay(self, *args: str) -> subprocess.CompletedProcess[str]:
        """The CLI as the server runs it (same home, config, PATH)."""
        env = {**self.env(), **self.server_env()}
        return subprocess.run(
            ["jobrelay", *args], env=env, capture_output=True, text=True, timeout=120, check=False
        )

    def server_env(self) -> dict[str, str]:
        bin_dir = self.home / "bin"
        return {
            "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '/usr/bin:/bin')}",
            "JOBRELAY_HOME": str(self.jobrelay_home),
            "JOBRELAY_CONFIG": str(self.config),
            "PYTHONPATH": str(ROOT / "src"),
        }

    def start(self) -> None:
        (self.home / "include").mkdir(parents=True, exist_ok=True)
        (self.home / "include" / "head.h").write_text(HEAD_H, encoding="utf-8")
        (self.home / "include" / "tail.h").write_text(TAIL_H, encoding="utf-8")
        bin_dir = self.home / "bin"
        bin_dir.mkdir(exist_ok=True)
        shim = bin_dir / "jobrelay"
        shim.write_text(f'#!/bin/sh\nexec {sys.executable} -m jobrelay "$@"\n')
        shim.chmod(0o755)
        env = {**self.env(), **self.server_env(), "ECF_HOME": str(self.home)}
        log = open(self.home / "server.out", "wb")  # noqa: SIM115 (the server's whole life)
        self.proc = subprocess.Popen(
            ["ecflow_server", f"--port={self.port}"],
            cwd=self.home,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        end = time.monotonic() + 60
        while not self.ping() and time.monotonic() < end:
            if self.proc.poll() is not None:
                raise AssertionError(
                    f"ecflow_server exited: {(self.home / 'server.out').read_text()}"
                )
            time.sleep(0.2)
        self.client("--restart")  # it starts halted

    def stop(self) -> None:
        # it ignores SIGTERM: halt, then terminate
        self.client("--halt=yes", check=False)
        self.client("--terminate=yes", check=False)
        if self.proc is not None:
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=30)


def free_port() -> int:
    """A free port where ecflow_server accepts one (1024-49151: not the kernel's
    ephemeral range, so an ephemeral bind cannot be used)."""
    for _ in range(100):
        port = random.randrange(20000, 49151)
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind(("0.0.0.0", port))  # the server listens on every address
            except OSError:
                continue
            return port
    raise AssertionError("no free port in 20000-49151")


def require_ecflow() -> None:
    missing = [c for c in ("ecflow_server", "ecflow_client") if shutil.which(c) is None]
    require_that(
        not missing, f"{', '.join(missing)} not installed (tests/infra/up.sh installs them)"
    )


def process_gone(pid: int) -> bool:
    """No such process, or a zombie (this machine's init reaps orphans late)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] in ("Z", "X")


def group_gone(pgid: int) -> bool:
    """No live process left in process group ``pgid``."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] not in ("Z", "X"):
            return False
    return True
