"""The jobrelay PSI/J executor beyond what PSI/J's suite checks: the URL, the
run attribute, attach to an unknown reference, the state table. Real
background jobs on a localhost platform."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from conftest import require_that

try:
    import psij
except ImportError:  # the test extra installs it; CI fails rather than skips
    psij = None


@pytest.fixture
def executor_config(tmp_path: Path) -> Any:
    require_that(psij is not None, "psij-python is not installed (pip install -e '.[test]')")
    from jobrelay.psij.config import JobrelayExecutorConfig

    config = tmp_path / "platforms.toml"
    config.write_text(f'[platforms.here]\nrun_root = "{tmp_path / "root"}"\n')
    return JobrelayExecutorConfig(config=config, home=tmp_path / "home", max_delay=0.5)


def test_the_url_names_a_platform_and_an_unknown_one_is_refused(executor_config: Any) -> None:
    with pytest.raises(
        ValueError, match=r"unknown platform 'nope' \(configured: here, localhost\)"
    ):
        psij.JobExecutor.get_instance("jobrelay", url="nope", config=executor_config)


def test_a_job_goes_to_the_run_its_attribute_names(executor_config: Any, tmp_path: Path) -> None:
    ex = psij.JobExecutor.get_instance("jobrelay", url="here", config=executor_config)
    out = tmp_path / "out.txt"
    spec = psij.JobSpec(
        "/bin/sh",
        ["-c", "echo $JOBRELAY_JOB_REF"],
        stdout_path=out,
        attributes=psij.JobAttributes(custom_attributes={"jobrelay.run": "cycle-7"}),
    )
    job = psij.Job(spec)
    ex.submit(job)
    assert str(job.native_id).startswith("cycle-7/")
    status = job.wait()
    assert status is not None and status.state == psij.JobState.COMPLETED
    assert out.read_text().strip() == job.native_id
    assert job.native_id not in ex.list()  # final jobs are not listed


def test_attach_to_an_unknown_reference_is_refused(executor_config: Any) -> None:
    ex = psij.JobExecutor.get_instance("jobrelay", url="here", config=executor_config)
    with pytest.raises(psij.InvalidJobException, match="cannot attach to 'psij/999'"):
        ex.attach(psij.Job(), "psij/999")


def test_every_final_jobrelay_state_is_a_final_psij_state() -> None:
    require_that(psij is not None, "psij-python is not installed (pip install -e '.[test]')")
    from jobrelay.psij.status import STATES
    from jobrelay.states import FINAL_STATES, JobState

    assert {s for s in STATES if STATES[s].final} == set(FINAL_STATES)
    assert JobState.UNKNOWN not in STATES and JobState.SUBMITTING not in STATES
