"""The PSI/J executor's translation of a JobSpec (pure: no host contacted),
and its script run by bash for real."""

from __future__ import annotations

import subprocess
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from conftest import require_that

try:
    import psij
except ImportError:  # the test extra installs it; CI fails rather than skips
    psij = None


@pytest.fixture(autouse=True)
def _psij() -> None:
    require_that(psij is not None, "psij-python is not installed (pip install -e '.[test]')")


def _translate(spec: Any) -> Any:
    from jobrelay.psij.translate import translate

    return translate(psij.Job(spec))


def test_attributes_and_resources_become_portable_directives() -> None:
    spec = psij.JobSpec(
        "/bin/date",
        attributes=psij.JobAttributes(
            duration=timedelta(seconds=3700.5),
            queue_name="short",
            account="abc",
            custom_attributes={
                "jobrelay.run": "r9",
                "jobrelay.raw": ["#SBATCH -C x"],
                "slurm.y": 1,
            },
        ),
        resources=psij.ResourceSpecV1(
            node_count=2, cpu_cores_per_process=3, memory=100 * 2**20 + 1
        ),
    )
    what = _translate(spec)
    assert what.run == "r9"
    assert what.name == "date"
    assert what.directives == {
        "time_limit": 3701,
        "queue": "short",
        "account": "abc",
        "nodes": 2,
        "cpus": 3,
        "memory": 101,
        "raw": ["#SBATCH -C x"],
    }


REFUSED = {
    "launcher 'mpirun'": lambda: {"launcher": "mpirun"},
    "GPU": lambda: {"resources": psij.ResourceSpecV1(gpu_cores_per_process=1)},
    "exclusive": lambda: {"resources": psij.ResourceSpecV1(exclusive_node_use=True)},
    "reservation": lambda: {"attributes": psij.JobAttributes(reservation_id="r1")},
}


@pytest.mark.parametrize("cause", sorted(REFUSED))
def test_what_jobrelay_cannot_honour_is_refused_naming_the_job(cause: str) -> None:
    spec = psij.JobSpec("/bin/date", **REFUSED[cause]())
    job = psij.Job(spec)
    from jobrelay.psij.translate import translate

    with pytest.raises(psij.InvalidJobException, match=cause) as caught:
        translate(job)
    assert job.id in str(caught.value)


def test_the_script_runs_the_executable_as_the_spec_says(tmp_path: Path) -> None:
    work = tmp_path / "dir with space"
    work.mkdir()
    (work / "in.txt").write_text("from stdin\n")
    pre = tmp_path / "pre.sh"
    pre.write_text("export FROM_PRE='pre $ value'\n")
    post = tmp_path / "post.sh"
    post.write_text("echo post >> post.txt\n")
    spec = psij.JobSpec(
        "/bin/bash",
        ["-c", 'cat; echo "$FROM_PRE" "$1"; echo err >&2; exit 5', "-", "it's"],
        directory=work,
        stdin_path=Path("in.txt"),
        stdout_path=work / "out.txt",
        stderr_path=work / "err.txt",
        pre_launch=pre,
        post_launch=post,
    )
    script = tmp_path / "job.sh"
    script.write_text(_translate(spec).script)
    done = subprocess.run(["bash", str(script)], capture_output=True, text=True, check=False)
    assert done.returncode == 5  # the executable's, not the post-launch script's
    assert (work / "out.txt").read_text() == "from stdin\npre $ value it's\n"
    assert (work / "err.txt").read_text() == "err\n"
    assert (work / "post.txt").read_text() == "post\n"


def test_a_clean_environment_holds_only_the_spec_s_variables(tmp_path: Path) -> None:
    out = tmp_path / "env.txt"
    spec = psij.JobSpec(
        "/usr/bin/env", stdout_path=out, inherit_environment=False, environment={"A": 1, "B": "x y"}
    )
    what = _translate(spec)
    assert what.env == {"A": "1", "B": "x y"}
    script = tmp_path / "job.sh"
    script.write_text(what.script)
    subprocess.run(["bash", str(script)], check=True)
    assert sorted(out.read_text().splitlines()) == ["A=1", "B=x y"]
