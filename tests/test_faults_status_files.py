"""Fault suite: damaged status files, on real background jobs (issue 12 §5).

Each job damages its own ``job.status`` while it runs (so the damage is
there when its wrapper appends the exit): a line cut short (the next
append is glued to it), garbage lines, bytes that are not UTF-8, the file
cut in place (its identity and runner id gone), emptied, a binary blob.
Every job must still end with the exit it wrote in its marker, once.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from cli_harness import local_cli
from conftest import Infra
from fault_harness import Markers, account, code_of, jobs_file, settle
from fault_sshd import slurm_over_ssh

from jobrelay.status.reader import parse_status

DAMAGE = {
    "cut": "printf 'JOB_EXIT_CO' >> job.status",
    "garbage": r"printf 'no equals\n=\n\x01=x\nJOB_PID=bad\nJOB_EXIT=maybe\n' >> job.status",
    "nonutf8": r"printf 'JOB_MESSAGE=2026-01-01T00:00:00Z|INFO|\xff\xfe\n\xc3\x28\n' >> job.status",
    "truncated": "head -c 20 job.status > t && cat t > job.status && rm t",
    "emptied": ": > job.status",
    "blob": 'cat "$BLOB" >> job.status',
}


def blob(marks: Markers) -> Path:
    """Fixed random bytes (with newlines and '=') the `blob` jobs append."""
    rng = random.Random(12)
    path = marks.dir / "blob"
    path.write_bytes(bytes(rng.choice(b"\n=\xff\xc3AZ_ 0\x00") for _ in range(4000)))
    path.chmod(0o644)
    return path


def damaging_jobs(marks: Markers, rounds: int) -> list[tuple[str, str]]:
    jobs = []
    where = blob(marks)
    for n in range(rounds * len(DAMAGE)):
        kind = list(DAMAGE)[n % len(DAMAGE)]
        middle = f"BLOB={where}\n{DAMAGE[kind]}"
        jobs.append((f"{kind}-{n}", marks.script(code_of(n), 0.2, middle)))
    return jobs


def test_damaged_status_files_background(tmp_path: Path, marks: Markers) -> None:
    cli = local_cli(tmp_path)
    listing = jobs_file(tmp_path, damaging_jobs(marks, 3))
    cli.json("submit", "--run", "dmg", "--jobs", str(listing))
    account(settle(cli, "dmg"), marks)


@pytest.mark.parametrize(
    "data",
    [
        b"JOB_PID=12\nJOB_EXIT_CO" + b"JOB_EXIT=failed\nJOB_EXIT_CODE=3\n",
        b"JOB_STATUS_VERSION=1" + b"JOB_EXIT=failed\nJOB_EXIT_CODE=3\n",
        b"JOB_RUNNER_ID=12" + b"JOB_EXIT=failed\nJOB_EXIT_CODE=3\n",
        b"JOB_PID=1\n\xff\xfeJOB_EXIT=failed\nJOB_EXIT_CODE=3\n",
    ],
)
def test_a_line_cut_short_does_not_swallow_the_next(data: bytes) -> None:
    facts = parse_status(data)
    assert (facts.exit, facts.exit_code) == ("failed", 3), facts
    assert any("cut short" in p for p in facts.problems), facts.problems


def test_a_message_text_is_never_split() -> None:
    facts = parse_status(b"JOB_MESSAGE=t|INFO|see JOB_EXIT=succeeded\n")
    assert facts.exit is None and facts.messages[0].text == "see JOB_EXIT=succeeded"


def test_damaged_status_files_slurm_over_ssh(tmp_path: Path, infra: Infra, marks: Markers) -> None:
    """The same damage on Slurm jobs through host1: a file that lost its runner
    id is asked about by the controller's, and the ends read true."""
    cli = slurm_over_ssh(tmp_path, infra)
    try:
        listing = jobs_file(tmp_path, damaging_jobs(marks, 1))
        cli.json("submit", "--platform", "hpc", "--run", "dmg", "--jobs", str(listing))
        account(settle(cli, "dmg"), marks)
    finally:
        cli.cleanup()
