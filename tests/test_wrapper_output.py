"""submit -o: the wrapper sends the job's stdout and stderr to $JOBRELAY_OUTPUT."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from job_dirs import make_job

from jobrelay.status.reader import read_status_file


def run(job_dir: Path, output: str) -> int:
    with open(job_dir / "job.out", "ab") as out, open(job_dir / "job.err", "ab") as err:
        proc = subprocess.run(
            ["bash", str(job_dir / "job")],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=err,
            env={**os.environ, "JOBRELAY_OUTPUT": output},
            timeout=120,
            check=False,
        )
    return proc.returncode


def test_output_goes_to_the_path_its_dirs_created(tmp_path: Path) -> None:
    job_dir = make_job(tmp_path, "echo to-out; echo to-err >&2\n")
    target = tmp_path / "task.1"
    target.write_text("old content, replaced as with sbatch --output\n")
    target2 = tmp_path / "new" / "deeper" / "task.2"
    assert run(job_dir, str(target)) == 0
    assert target.read_text() == "to-out\nto-err\n"
    assert run(job_dir, str(target2)) == 0  # parents missing: created
    assert target2.read_text() == "to-out\nto-err\n"
    assert (job_dir / "job.out").read_text() == ""
    assert (job_dir / "job.err").read_text() == ""


def test_unwritable_output_fails_the_job_with_a_message(tmp_path: Path) -> None:
    job_dir = make_job(tmp_path, "echo ran > ran.txt\n")
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    assert run(job_dir, str(blocker / "sub" / "out")) == 1
    facts = read_status_file(str(job_dir / "job.status"))
    assert (facts.exit, facts.exit_code) == ("failed", 1)
    assert any("cannot create the output directory" in m.text for m in facts.messages)
    assert not (job_dir / "ran.txt").exists()
    assert "cannot create the output directory" in (job_dir / "job.err").read_text()
