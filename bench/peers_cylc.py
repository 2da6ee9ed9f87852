"""Cylc driven as its scheduler drives a remote job host (comms method ``poll``).

The scheduler writes job files with ``JobFileWriter``, then runs, over ssh
(``construct_ssh_cmd``: ``env CYLC_VERSION=… bash --login -c 'exec "$0" "$@"'``):
``cylc jobs-submit --remote-mode -- $HOME/cylc-run/WF/log/job DIR…`` with
the job files on stdin (batches of at most ``max batch submit size`` = 100,
in chunks of equal size, run concurrently by its process pool),
``cylc jobs-poll -- ROOT DIR…`` and ``cylc jobs-kill -- ROOT DIR…``.
Remote init (done once per workflow and host, not timed here) installs
``.service/etc/job.sh``, which each job file sources.
"""

from __future__ import annotations

import concurrent.futures
import json
import shlex
import subprocess
from pathlib import Path
from typing import Any

CYLC_VENV = Path("/opt/jobrelay-bench/cylc-venv")
CYLC = str(CYLC_VENV / "bin" / "cylc")
MAX_BATCH = 100  # cylc's "max batch submit size" default


def cylc_version() -> str:
    return subprocess.run([CYLC, "version"], capture_output=True, text=True).stdout.strip()


def _site_packages() -> Path:
    found = sorted(CYLC_VENV.glob("lib/python3*/site-packages"))
    return found[0]


class CylcWorkflow:
    """One bench workflow on one host: job files, remote init, submit/poll/kill."""

    def __init__(self, ssh: list[str], host: str, name: str, local: Path) -> None:
        self.ssh = ssh
        self.host = host
        self.name = name
        self.local = local
        self.version = cylc_version()
        self.dirs: list[str] = []

    def remote(self, *cylc_args: str) -> list[str]:
        """The scheduler's ssh command line (cylc.flow.remote.construct_ssh_cmd)."""
        return [
            *self.ssh,
            "-oBatchMode=yes",
            "-oConnectTimeout=10",
            self.host,
            "env",
            shlex.quote(f"CYLC_VERSION={self.version}"),
            "bash",
            "--login",
            "-c",
            shlex.quote('exec "$0" "$@"'),
            CYLC,
            *cylc_args,
        ]

    @property
    def job_root(self) -> str:
        return f"$HOME/cylc-run/{self.name}/log/job"

    def remote_init(self) -> None:
        job_sh = (_site_packages() / "cylc" / "flow" / "etc" / "job.sh").read_bytes()
        etc = f"cylc-run/{self.name}/.service/etc"
        cmd = f"mkdir -p {etc} && cat > {etc}/job.sh"
        subprocess.run([*self.ssh, self.host, cmd], input=job_sh, check=True)

    def write_jobs(self, scripts: list[str]) -> None:
        """Job files as the scheduler writes them (JobFileWriter), one task per script."""
        code = _WRITER % {"name": self.name, "root": str(self.local), "cylc_bin": CYLC_VENV / "bin"}
        python = str(CYLC_VENV / "bin" / "python")
        subprocess.run([python, "-c", code], input=json.dumps(scripts), text=True, check=True)
        self.dirs = [f"1/t{i:04d}/01" for i in range(len(scripts))]

    def job_file(self, job_dir: str) -> bytes:
        return (self.local / job_dir / "job").read_bytes()

    def submit(self, dirs: list[str]) -> str:
        """Submit in the scheduler's batches, concurrently; return the summaries."""
        n = len(dirs)
        chunk = n // ((n // MAX_BATCH) + 1) + 1
        batches = [dirs[i : i + chunk] for i in range(0, n, chunk)]
        argv = ["jobs-submit", "--remote-mode", f"--path={CYLC_VENV / 'bin'}", "--"]

        def one(batch: list[str]) -> str:
            stdin = b"".join(self.job_file(d) for d in batch)
            proc = subprocess.run(
                self.remote(*argv, self.job_root, *batch), input=stdin, capture_output=True
            )
            return proc.stdout.decode()

        with concurrent.futures.ThreadPoolExecutor(len(batches)) as pool:
            return "".join(pool.map(one, batches))

    def poll(self, dirs: list[str], timeout: float = 120.0) -> dict[str, dict[str, Any]] | None:
        """One ``cylc jobs-poll`` call: job dir -> its summary (run_status when finished).

        None when it did not answer within ``timeout``: its host-side process is
        then ended (by pid). Cylc 8.5.4 waits for ``ps`` to exit before reading
        its output (job_runner_mgr._jobs_poll_runner: proc.wait(), then
        communicate()), so a poll whose ``ps`` output exceeds the pipe buffer
        (64 KiB: some 500 running background jobs) never returns.
        """
        try:
            proc = subprocess.run(
                self.remote("jobs-poll", "--", self.job_root, *dirs),
                capture_output=True,
                text=True,
                timeout=timeout,
            )
        except subprocess.TimeoutExpired:
            pattern = f"cylc jobs-poll -- [^ ]*/cylc-run/{self.name}/log/job "
            cmd = f'pkill -KILL -u "$(id -u)" -f {shlex.quote(pattern)} || true'
            subprocess.run([*self.ssh, self.host, cmd], capture_output=True)
            return None
        return parse_summaries(proc.stdout)

    def kill(self, dirs: list[str]) -> str:
        proc = subprocess.run(
            self.remote("jobs-kill", "--", self.job_root, *dirs), capture_output=True, text=True
        )
        return proc.stdout


def parse_summaries(text: str) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    prefix = "[TASK JOB SUMMARY]"
    for line in text.splitlines():
        if not line.startswith(prefix):
            continue
        parts = line[len(prefix) :].split("|", 2)
        if len(parts) == 3 and parts[2].startswith("{"):
            found[parts[1]] = json.loads(parts[2])
    return found


# Run by the Cylc venv's Python: scripts (JSON list) on stdin.
_WRITER = """
import json, os, sys
from cylc.flow.job_file import JobFileWriter
scripts = json.load(sys.stdin)
writer = JobFileWriter()
writer.set_workflow_env({
    'CYLC_UTC': 'True', 'CYLC_WORKFLOW_ID': '%(name)s', 'CYLC_WORKFLOW_NAME': '%(name)s',
    'CYLC_WORKFLOW_NAME_BASE': '%(name)s', 'CYLC_CYCLING_MODE': 'integer',
    'CYLC_WORKFLOW_INITIAL_CYCLE_POINT': '1', 'CYLC_WORKFLOW_FINAL_CYCLE_POINT': '1',
    'CYLC_VERBOSE': 'false', 'CYLC_DEBUG': 'false',
})
platform = {
    'communication method': 'poll', 'copyable environment variables': [],
    'cylc path': '%(cylc_bin)s', 'global init-script': '',
    'job runner command template': '', 'job runner': 'background',
}
for i, script in enumerate(scripts):
    task = 't%%04d' %% i
    job_d = '1/%%s/01' %% task
    conf = {
        'workflow_name': '%(name)s', 'task_id': '1/' + task, 'job_d': job_d, 'try_num': 1,
        'flow_nums': {1}, 'namespace_hierarchy': ['root', task], 'param_var': {},
        'param_vars': {}, 'work_d': '1/' + task, 'uuid_str': 'bench', 'environment': {},
        'execution_time_limit': None, 'directives': {}, 'platform': platform,
        'init-script': '', 'env-script': '', 'err-script': '', 'exit-script': '',
        'pre-script': '', 'script': script, 'post-script': '',
    }
    path = os.path.join('%(root)s', job_d)
    os.makedirs(path, exist_ok=True)
    writer.write(os.path.join(path, 'job'), conf, check_syntax=False)
"""
