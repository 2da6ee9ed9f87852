"""Fault suite: jobs that die badly, on real background and at jobs (issue 12 §5).

- a job that kill -9s itself (its wrapper first, then its script): nothing
  is written at its end; jobrelay must say it failed, never succeeded, and
  never run it again;
- a job whose run root is a full tmpfs, so its exit cannot be written: it
  must not be reported ended with a made-up exit while the disk is full,
  and once space is back it reads the exit it really had.
"""

from __future__ import annotations

import errno
import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from cli_harness import Cli, local_cli
from conftest import Infra, require, require_that
from fault_harness import FINAL, Markers, account, code_of, jobs_file, key, settle
from job_dirs import wait_for

SUICIDE = (
    'kill -KILL "$(sed -n "s/^JOB_PID=//p" job.status | tail -n 1)"\n'
    "kill -KILL $$"  # the wrapper is gone: the script ends itself the same way
)


@pytest.fixture(params=["background", "at"])
def cli(request: pytest.FixtureRequest, tmp_path: Path, infra: Infra) -> Cli:
    if request.param == "at":
        require(infra, "at")
    return local_cli(tmp_path, f'runner = "{request.param}"\n')


def test_a_job_that_kill_9s_itself(cli: Cli, tmp_path: Path, marks: Markers) -> None:
    jobs = [(f"suicide-{n}", marks.script(0, 0, SUICIDE)) for n in range(3)]
    jobs += [(f"ok-{n}", marks.script(code_of(n), 0.1)) for n in range(3)]
    cli.json("submit", "--run", "k9", "--jobs", str(jobs_file(tmp_path, jobs)))
    final = settle(cli, "k9")
    dying = frozenset(key(j) for j in final if j["name"].startswith("suicide"))
    account(final, marks, may_die=dying)
    for job in final:
        if key(job) in dying:  # nothing recorded its end: lost, no exit made up
            assert (job["state"], job["exit_code"]) == ("lost", None), job


# The job fills its status file up to a page boundary with one message: a
# tmpfs appends within a page it already has, so only then is it refused.
PAD_TO_PAGE = (
    # after the agent's last submit line, which may come after the job started
    "until grep -q '^JOB_RUNNER_ID=' job.status; do sleep 0.05; done\n"
    "s=$(stat -c %s job.status); p=$((8192 - s % 4096))\n"
    "printf 'JOB_MESSAGE=2026-01-01T00:00:00Z|INFO|%s\\n'"
    ' "$(head -c $((p - 39)) /dev/zero | tr "\\0" x)" >> job.status'
)


@pytest.fixture
def full_disk(tmp_path: Path) -> Iterator[Path]:
    """A 1 MiB tmpfs, unmounted afterwards."""
    mnt = Path(f"/tmp/jr-tmpfs-{uuid.uuid4().hex[:8]}")
    mnt.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mnt)], check=False)
    require_that(done.returncode == 0, "cannot mount a tmpfs (needs root)")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)
        mnt.rmdir()


def fill(mnt: Path) -> None:
    """Write until the tmpfs refuses (ENOSPC)."""
    fd = os.open(mnt / "filler", os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        while os.write(fd, b"\0" * 4096):
            pass
    except OSError as exc:
        assert exc.errno == errno.ENOSPC, exc
    finally:
        os.close(fd)


def test_a_full_run_root_makes_no_exit_up(tmp_path: Path, full_disk: Path, marks: Markers) -> None:
    cli = local_cli(tmp_path)
    cli.config.write_text(f'[platforms.localhost]\nrun_root = "{full_disk}/run"\n')
    go = marks.dir / "go"
    gate = f"{PAD_TO_PAGE}\n{marks.gate()}"
    jobs = [(f"full-{n}", marks.script(code_of(n), 0, gate)) for n in range(3)]
    submitted = cli.json("submit", "--run", "full", "--jobs", str(jobs_file(tmp_path, jobs)))
    files = [full_disk / "run" / j["job_dir"] / "job.status" for j in submitted]
    padded = lambda: all(f.stat().st_size % 4096 == 0 for f in files)  # noqa: E731
    wait_for(padded, "the jobs to pad their status files")
    fill(full_disk)
    go.touch()
    wait_for(lambda: len(marks.ends()) == 3, "the jobs to end")
    while_full = cli.json("poll", "--run", "full")
    assert not [j for j in while_full if j["state"] in FINAL], while_full
    (full_disk / "filler").unlink()
    account(settle(cli, "full"), marks)
