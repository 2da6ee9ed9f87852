"""The in-process submit of a local platform (manager/local_submit.py, what a
one-shot ``jobrelay submit`` without ``--wait`` runs) records and starts
exactly what the controller's submit does: same ledger records, same job
files, same refusals, same submit failures. Real background jobs."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from cli_harness import local_cli

from jobrelay.ledger.records import JobRecord
from jobrelay.ledger.store import Ledger
from jobrelay.manager.controller import Controller
from jobrelay.manager.local_poll import poll_here
from jobrelay.manager.local_submit import submit_here
from jobrelay.manager.submit_item import SubmitItem
from jobrelay.manager.submitting import ControllerError
from jobrelay.platforms.config import load_config
from jobrelay.platforms.model import Platform
from jobrelay.states import JobState

HOSTILE = "a b;$(touch pwned) 'q\" `x`"


def items(tmp_path: Path) -> list[SubmitItem]:
    works = tmp_path / "works.sh"
    works.write_text("#!/bin/bash\necho out; echo err >&2\n")
    fails = tmp_path / "fails.sh"
    fails.write_text("#!/bin/bash\nexit 3\n")
    return [
        SubmitItem(works, "works", {"time_limit": "10m"}, {"GREETING": "hi there"}),
        SubmitItem(fails, HOSTILE),
        SubmitItem(works, "to-output", output=str(tmp_path / "out" / "to-output.log")),
    ]


def both_ways(
    tmp_path: Path, platform: Platform, home: Path, wanted: list[SubmitItem]
) -> tuple[list[JobRecord], list[JobRecord]]:
    with Ledger.open(home / "ledger.sqlite") as ledger:
        here = submit_here(ledger, platform, wanted, "here", str(home))
        controller = Controller(home, {platform.name: platform}, ledger)

        async def go() -> list[JobRecord]:
            try:
                return await controller.submit(wanted, platform.name, "agent")
            finally:
                await controller.close()

        agent = asyncio.run(go())
    return here, agent


def settle(home: Path, platform: Platform, jobs: list[JobRecord]) -> list[JobRecord]:
    """The jobs once each has recorded its end (they are short)."""
    deadline = time.monotonic() + 60
    while True:
        with Ledger.open(home / "ledger.sqlite") as ledger:
            jobs = poll_here(ledger, platform, jobs)
        if all(j.state.is_final for j in jobs) or time.monotonic() > deadline:
            return jobs
        time.sleep(0.2)


def test_in_process_submit_records_and_runs_what_the_controller_does(tmp_path: Path) -> None:
    cli = local_cli(tmp_path)
    platform = load_config(cli.config)["localhost"]
    here, agent = both_ways(tmp_path, platform, cli.home, items(tmp_path))
    assert [j.state for j in here] == [JobState.SUBMITTED] * 3
    for mine, theirs in zip(here, agent, strict=True):
        assert mine.runner_id and mine.runner_id != theirs.runner_id
        for name in ("state", "name", "platform", "host", "runner", "directives", "env", "output"):
            assert getattr(mine, name) == getattr(theirs, name), name
        # the same job file, but for the job's own reference and dir
        job_file = {
            job.id: (cli.run_root / job.job_dir / "job")
            .read_text()
            .replace(job.ref, "REF")
            .replace(str(cli.run_root / job.job_dir), "DIR")
            for job in (mine, theirs)
        }
        assert job_file[mine.id] == job_file[theirs.id]
    assert not (tmp_path / "pwned").exists() and not Path("pwned").exists()
    ended = {j.name + "@" + j.run: j for j in settle(cli.home, platform, here + agent)}
    for run in ("here", "agent"):
        assert ended[f"works@{run}"].state is JobState.SUCCEEDED
        assert (ended[f"{HOSTILE}@{run}"].state, ended[f"{HOSTILE}@{run}"].exit_code) == (
            JobState.FAILED,
            3,
        )
        assert ended[f"to-output@{run}"].state is JobState.SUCCEEDED
    # made when missing, written by the job, truncated at a job's start (as sbatch --output)
    assert (tmp_path / "out" / "to-output.log").read_text() == "out\nerr\n"


def test_in_process_submit_refuses_as_the_controller_does_before_recording(
    tmp_path: Path,
) -> None:
    cli = local_cli(tmp_path)
    platform = load_config(cli.config)["localhost"]
    good = tmp_path / "good.sh"
    good.write_text("#!/bin/bash\ntrue\n")
    refused = {
        "bad directive": [SubmitItem(good, "ok"), SubmitItem(good, "x", {"time_limit": "soon"})],
        "missing script": [SubmitItem(good, "ok"), SubmitItem(tmp_path / "nope.sh", "gone")],
        "relative output": [SubmitItem(good, "ok", output="rel/out.log")],
    }
    with Ledger.open(cli.home / "ledger.sqlite") as ledger:
        controller = Controller(cli.home, {platform.name: platform}, ledger)
        for case, wanted in refused.items():
            with pytest.raises(ControllerError) as here:
                submit_here(ledger, platform, wanted, "r", str(cli.home))
            with pytest.raises(ControllerError) as agent:
                asyncio.run(controller.submit(wanted, platform.name, "r"))
            assert str(here.value) == str(agent.value), case
        assert ledger.find(run="r") == []  # nothing recorded, nothing started


def test_a_host_that_cannot_take_jobs_is_a_recorded_submit_failure(tmp_path: Path) -> None:
    """The run root cannot be made (a file stands there): every job of the
    batch is submit-failed with the engine's reason, as through the agent."""
    blocker = tmp_path / "blocker"
    blocker.write_text("not a directory\n")
    cli = local_cli(tmp_path, "submit_retry_budget = 0\n")
    cli.config.write_text(
        cli.config.read_text().replace(str(cli.run_root), str(blocker / "root")), "utf-8"
    )
    platform = load_config(cli.config)["localhost"]
    script = tmp_path / "s.sh"
    script.write_text("#!/bin/bash\ntrue\n")
    here, agent = both_ways(tmp_path, platform, cli.home, [SubmitItem(script, "s")])
    assert [j.state for j in here] == [j.state for j in agent] == [JobState.SUBMIT_FAILED]
    assert here[0].error == agent[0].error == "submit: cannot make the job dir: Not a directory"
