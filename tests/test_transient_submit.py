"""A submit command that times out is transient, never a job failure.

The runner's command is real (a scheduler client that hangs: `sleep` through
the runner prefix, timed out by the runner's own command_timeout); the
judge then keeps the job `submitting` with the error, where a submit the
runner refused (a non-zero exit) is `submit-failed`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from jobrelay.engine.protocol import JobReply, decode_reply_line
from jobrelay.ledger.records import JobRecord
from jobrelay.manager.judge import Look, Rules, judge
from jobrelay.processes import run_command
from jobrelay.runners.base import RunnerOptions, SubmitRequest
from jobrelay.runners.slurm import SlurmRunner
from jobrelay.states import JobState


def submitting() -> JobRecord:
    return JobRecord(
        id=7, run="r", name="j", submit_num=1, platform="p", host=None,
        install_target="p", runner="slurm", runner_id=None, job_dir="r/jobs/7-j",
        state=JobState.SUBMITTING, exit_code=None, exit_signal=None, exit_source=None,
        error=None, kill_requested=False, forgot_count=0, unreachable_since=None,
        script_path="/s.sh", directives={}, env={},
        created=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        updated=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    )  # fmt: skip


def outcome_of(prefix: tuple[str, ...], tmp: Path) -> tuple[str | None, str | None, bool]:
    runner = SlurmRunner(RunnerOptions(command_timeout=0.5, command_prefix=prefix))
    (job_file := tmp / "job").write_text("#!/bin/bash\ntrue\n")
    outcome = runner.submit_one(SubmitRequest(str(tmp), str(job_file), "true\n"), run_command)
    return outcome.runner_id, outcome.error, outcome.uncertain


def judged(reply: JobReply) -> JobState | None:
    wire = decode_reply_line(reply.to_json())  # as the controller reads it
    update = judge(submitting(), Look("submit", "h", wire), Rules(datetime.now(UTC)))
    assert update is not None
    return None if not isinstance(update.state, JobState) else update.state


def test_a_hung_submit_command_keeps_the_job_submitting(tmp_path: Path) -> None:
    runner_id, error, uncertain = outcome_of(("sh", "-c", "sleep 30", "hang"), tmp_path)
    assert runner_id is None and uncertain and error and "timed out" in error
    reply = JobReply("r/7", "r/jobs/7-j", "submit", error=error, submit_uncertain=True)
    assert judged(reply) is None  # state kept: submitting
    refused = outcome_of(("sh", "-c", "echo no >&2; exit 1", "refuse"), tmp_path)
    assert refused[0] is None and not refused[2]
    reply = JobReply("r/7", "r/jobs/7-j", "submit", error=refused[1])
    assert judged(reply) is JobState.SUBMIT_FAILED
