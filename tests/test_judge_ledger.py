"""Judgements written through a real ledger: a job's life across several polls."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from jobrelay.engine.protocol import JobReply
from jobrelay.ledger import EventKind, ExitSource, JobRecord, JobSpec, Ledger
from jobrelay.manager.judge import Look, Rules, judge
from jobrelay.manager.reconcile import RunnerView
from jobrelay.runners.base import RunnerJobInfo, RunnerState
from jobrelay.states import JobState
from jobrelay.status.facts import Message, StatusFacts

QUEUED = StatusFacts(exists=True, runner_name="slurm", runner_id="77", submit_time="t0")
STARTED = StatusFacts(
    exists=True,
    runner_name="slurm",
    runner_id="77",
    start_time="t1",
    pid=9,
    messages=(Message("t1", "INFO", "step 1"),),
)
GONE = RunnerView.answered(RunnerJobInfo("77", RunnerState.GONE))


def poll(
    ledger: Ledger, job_id: int, facts: StatusFacts | None, runner: RunnerView, now: str
) -> JobRecord:
    job = ledger.get(job_id)
    if facts is None:
        look = Look("poll", "h", None, unreachable=True)
    else:
        line = JobReply(
            job.ref,
            job.job_dir,
            "poll",
            status=facts,
            runner=runner.info,
            runner_error=runner.error,
        )
        look = Look("poll", "h", line)
    when = datetime.strptime(now, "n%d").replace(year=2026, tzinfo=UTC)
    update = judge(job, look, Rules(when))
    assert update is not None
    ledger.apply([update])
    return ledger.get(job_id)


def test_life_of_a_job_through_the_ledger(tmp_path: Path) -> None:
    with Ledger.open(tmp_path / "l.db") as ledger:
        (job,) = ledger.create_jobs([JobSpec("r", "j", "p", "p", "slurm", "/s.sh")])
        # controller died before the submit reply: the poll learns the runner id from the file
        got = poll(ledger, job.id, QUEUED, RunnerView.not_asked(), "n1")
        assert (got.state, got.runner_id) == (JobState.SUBMITTED, "77")
        # host unreachable twice: unknown, unreachable since the first time
        got = poll(ledger, job.id, None, RunnerView.not_asked(), "n2")
        got = poll(ledger, job.id, None, RunnerView.not_asked(), "n3")
        assert (got.state, got.unreachable_since) == (JobState.UNKNOWN, "2026-01-02T00:00:00Z")
        # back: running, message recorded once even when read twice
        got = poll(ledger, job.id, STARTED, RunnerView.not_asked(), "n4")
        got = poll(ledger, job.id, STARTED, RunnerView.not_asked(), "n5")
        assert (got.state, got.unreachable_since) == (JobState.RUNNING, None)
        assert len(ledger.events(job.id, kinds=[EventKind.MESSAGE])) == 1
        # the runner forgets it: suspect, then lost, with a runner-forgot event
        got = poll(ledger, job.id, STARTED, GONE, "n6")
        assert (got.state, got.forgot_count) == (JobState.RUNNING, 1)
        got = poll(ledger, job.id, STARTED, GONE, "n7")
        assert (got.state, got.forgot_count) == (JobState.LOST, 2)
        assert len(ledger.events(job.id, kinds=[EventKind.RUNNER_FORGOT])) == 1
        # the file shows an exit late: accepted over lost
        late = StatusFacts(**{**STARTED.__dict__, "exit": "succeeded", "exit_code": 0})
        got = poll(ledger, job.id, late, GONE, "n8")
        assert (got.state, got.exit_code, got.exit_source) == (
            JobState.SUCCEEDED,
            0,
            ExitSource.STATUS_FILE,
        )
        states = [e.detail.split(":")[0] for e in ledger.events(job.id, kinds=[EventKind.STATE])]
        assert states == [
            "submitting -> submitted",
            "submitted -> unknown",
            "unknown -> running",
            "running -> lost",
            "lost -> succeeded",
        ]
        # polling a final job again writes nothing
        before = ledger.events(job.id)
        poll(ledger, job.id, late, GONE, "n9")
        assert ledger.events(job.id) == before


def test_a_runner_error_is_carried_then_cleared_when_the_trouble_is_over(tmp_path: Path) -> None:
    with Ledger.open(tmp_path / "l.db") as ledger:
        (job,) = ledger.create_jobs([JobSpec("r", "j", "p", "p", "slurm", "/s.sh")])
        poll(ledger, job.id, STARTED, RunnerView.not_asked(), "n1")
        down = RunnerView.failed("squeue: Unable to contact slurm controller")
        got = poll(ledger, job.id, STARTED, down, "n2")
        assert (got.state, got.error) == (JobState.RUNNING, down.error)
        running = RunnerView.answered(RunnerJobInfo("77", RunnerState.RUNNING))
        got = poll(ledger, job.id, STARTED, running, "n3")
        assert (got.state, got.error) == (JobState.RUNNING, None)


def test_a_kill_judged_on_a_state_another_controller_changed_is_judged_again(
    tmp_path: Path,
) -> None:
    # Two controllers: ours read the job `submitted` and killed it (verified);
    # meanwhile the other's poll recorded `running`. Our kill must still land:
    # it was dropped as stale, leaving the job `running` with no word.
    from jobrelay.manager.agent_reply import AgentReply
    from jobrelay.manager.recording import record_reply
    from jobrelay.platforms.model import Platform

    with Ledger.open(tmp_path / "l.db") as ledger:
        (job,) = ledger.create_jobs([JobSpec("r", "j", "p", "p", "slurm", "/s.sh")])
        poll(ledger, job.id, QUEUED, RunnerView.not_asked(), "n1")
        ledger.mark_kill_requested([job.id], "kill requested by the user")
        ours = ledger.get(job.id)  # what our kill saw: submitted
        poll(ledger, job.id, STARTED, RunnerView.not_asked(), "n2")  # the other controller
        assert ledger.get(job.id).state is JobState.RUNNING
        line = JobReply(ours.ref, ours.job_dir, "kill", status=STARTED, kill_verified=True)
        reply = AgentReply(host="h", replies={ours.ref: line}, complete=True)
        fresh = record_reply(ledger, Platform(name="p"), "kill", [ours], reply)
        assert fresh[job.id].state is JobState.KILLED, fresh[job.id]
        assert ledger.get(job.id).state is JobState.KILLED
