"""Every rule between an agent's reply and the ledger, as one table.

A row is one look at one job: the job as the ledger held it, what the call
brought back (the status file and the runner's answer in a typed reply, or
why there is no reply), and the update ``judge`` must record. The state rows
come first (the precedence of ``reconcile.decide``), then the rules of the
call and of the update. ``expect`` names the update fields a row is about;
exit fields read None when the update leaves them as they were.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Mapping, Optional

import pytest

from jobrelay.engine.protocol import JobReply
from jobrelay.ledger.records import KEEP, EventKind, ExitSource, JobRecord, JobUpdate
from jobrelay.manager.judge import INTERRUPTED, Look, Rules, judge
from jobrelay.manager.reconcile import LOST_AFTER_LOOKS, RunnerView
from jobrelay.runners.base import RunnerJobInfo
from jobrelay.runners.base import RunnerState as R
from jobrelay.states import JobState as S
from jobrelay.status.facts import Message, StatusFacts

T = "2026-11-25T01:02:03Z"
NOW = datetime(2026, 11, 25, 1, 2, 3, tzinfo=UTC)
LONG_AGO = "2026-11-25T00:00:00Z"  # an hour before NOW
JUST_NOW = "2026-11-25T01:02:00Z"  # 3 s before NOW

# what the status file may say
NO_FILE = StatusFacts(exists=False)
NO_ID = StatusFacts(exists=True, submit_time=T)  # agent wrote the file, no runner id yet
QUEUED = StatusFacts(exists=True, runner_name="slurm", runner_id="42", submit_time=T)
STARTED = replace(QUEUED, pid=4242, host="node1", start_time=T)
OK = replace(STARTED, exit="succeeded", exit_code=0, exit_time=T)
OK_NO_CODE = replace(STARTED, exit="succeeded", exit_time=T)
CODE3 = replace(STARTED, exit="failed", exit_code=3, exit_time=T)
TERM = replace(STARTED, exit="failed", exit_code=143, exit_signal="TERM", exit_time=T)
BY_AGENT = replace(STARTED, exit="failed", exit_signal="KILL", exit_by="agent", exit_time=T)
DAMAGED = replace(STARTED, problems=("line 7: not KEY=VALUE",))
TALKED = replace(STARTED, messages=(Message(T, "INFO", "step 1"),))

# what the runner may say
NOT_ASKED = RunnerView.not_asked()
FAILED_QUERY = RunnerView.failed("squeue: timed out after 30s")


def runner(
    state: R, code: Optional[int] = None, sig: Optional[str] = None, why: str = ""
) -> RunnerView:
    return RunnerView.answered(RunnerJobInfo("42", state, code, sig, why))


PENDING = runner(R.PENDING, why="PD")
RUNNING = runner(R.RUNNING, why="R")
GONE = runner(R.GONE)
DONE_1 = runner(R.DONE, code=1, why="NODE_FAIL")
DONE_KILL = runner(R.DONE, sig="KILL", why="CANCELLED")
DONE_0 = runner(R.DONE, code=0, why="COMPLETED")
DONE_BLIND = runner(R.DONE)  # ended, exit unknown (e.g. a background pid gone)


@dataclass(frozen=True)
class Prev:
    """The job as the ledger held it before the look."""

    state: S
    kill: bool = False
    forgot: int = 0
    source: Optional[ExitSource] = None
    host: Optional[str] = "login1"
    created: str = LONG_AGO
    unreachable_since: Optional[str] = None
    error: Optional[str] = None

    def record(self) -> JobRecord:
        return JobRecord(
            id=7, run="r", name="j", submit_num=1, platform="p", host=self.host,
            install_target="p", runner="slurm", runner_id=None, job_dir="r/jobs/7-j",
            state=self.state, exit_code=None, exit_signal=None, exit_source=self.source,
            error=self.error, kill_requested=self.kill, forgot_count=self.forgot,
            unreachable_since=self.unreachable_since, script_path="/s.sh", directives={},
            env={}, created=self.created, updated=self.created,
        )  # fmt: skip


def prev(
    state: S, kill: bool = False, forgot: int = 0, source: Optional[ExitSource] = None
) -> Prev:
    return Prev(state, kill=kill, forgot=forgot, source=source)


@dataclass(frozen=True)
class Case:
    name: str
    facts: Optional[StatusFacts]  # None: the host could not be reached, no reply
    runner: RunnerView
    prev: Prev
    state: S
    expect: Mapping[str, Any] = field(default_factory=dict)
    reason_has: str = ""
    requeue: frozenset[str] = frozenset()  # the runner's requeue (preemption) signals
    verb: str = "poll"
    reply_error: Optional[str] = None  # the reply's error for this job
    reply: bool = True  # False: the call brought no line for this job
    in_progress: bool = False
    runner_id: Optional[str] = None  # the reply's runner id (submit)
    resubmit_refused: bool = False
    not_started: bool = False
    kill_verified: bool = False
    kill_detail: Optional[str] = None
    unreachable: bool = False  # the call could not reach the host
    call_error: Optional[str] = None

    def look(self) -> Look:
        unreachable = self.unreachable or (self.facts is None and self.reply_error is None)
        if unreachable or not self.reply:
            return Look(
                self.verb, "login2", None, unreachable=unreachable,
                not_started=self.not_started, call_error=self.call_error,
            )  # fmt: skip
        reply = JobReply(
            "r/7", "r/jobs/7-j", self.verb, error=self.reply_error, status=self.facts,
            runner=self.runner.info, runner_error=self.runner.error, runner_id=self.runner_id,
            in_progress=self.in_progress, resubmit_refused=self.resubmit_refused,
            kill_verified=self.kill_verified, kill_detail=self.kill_detail,
        )  # fmt: skip
        return Look(self.verb, "login2", reply, call_error=self.call_error)


SLURM_REQUEUE = frozenset({"TERM"})
FILE = ExitSource.STATUS_FILE
RUN = ExitSource.RUNNER

# one row per case reads as a table: keep the formatter out
# fmt: off
CASES = [
    # -- host unreachable: unknown, never terminal, never a failure ------------------
    Case("unreachable running", None, NOT_ASKED, prev(S.RUNNING, forgot=1), S.UNKNOWN,
         {"host_unreachable": True, "forgot_count": 1, "exit_code": None}, "could not be reached"),
    Case("unreachable submitting", None, NOT_ASKED, prev(S.SUBMITTING), S.UNKNOWN,
         {"host_unreachable": True}),
    Case("unreachable again stays unknown", None, NOT_ASKED, prev(S.UNKNOWN), S.UNKNOWN),
    Case("unreachable succeeded stays", None, NOT_ASKED, prev(S.SUCCEEDED, source=FILE),
         S.SUCCEEDED, {"host_unreachable": True}),
    Case("unreachable lost stays", None, NOT_ASKED, prev(S.LOST, forgot=2), S.LOST),
    Case("back from unknown, running", STARTED, RUNNING, prev(S.UNKNOWN), S.RUNNING,
         {"host_unreachable": False}),
    Case("back from unknown, queued", QUEUED, NOT_ASKED, prev(S.UNKNOWN), S.SUBMITTED),
    Case("back from unknown, nothing known yet", NO_ID, NOT_ASKED, prev(S.UNKNOWN), S.SUBMITTING),
    # -- exit in the status file is authoritative ------------------------------------
    Case("file success", OK, NOT_ASKED, prev(S.RUNNING), S.SUCCEEDED,
         {"exit_code": 0, "exit_signal": None, "exit_source": FILE}),
    Case("file success without a code", OK_NO_CODE, NOT_ASKED, prev(S.RUNNING), S.SUCCEEDED,
         {"exit_code": 0}),
    Case("file success, runner gone", OK, GONE, prev(S.RUNNING), S.SUCCEEDED,
         {"forgot_count": 0, "record_forgot": False}),
    Case("file success, runner still running", OK, RUNNING, prev(S.RUNNING), S.SUCCEEDED),
    Case("file success, runner says failed", OK, DONE_1, prev(S.RUNNING), S.SUCCEEDED),
    Case("file success, runner query failed", OK, FAILED_QUERY, prev(S.RUNNING), S.SUCCEEDED),
    Case("file success from submitting", OK, NOT_ASKED, prev(S.SUBMITTING), S.SUCCEEDED),
    Case("file exit code", CODE3, RUNNING, prev(S.RUNNING), S.FAILED,
         {"exit_code": 3, "exit_signal": None, "exit_source": FILE}, "exit code 3"),
    Case("file signal, no kill asked", TERM, GONE, prev(S.RUNNING), S.FAILED,
         {"exit_signal": "TERM", "exit_code": 143}, "signal TERM"),
    Case("file signal after kill", TERM, GONE, prev(S.RUNNING, kill=True), S.KILLED,
         {"exit_signal": "TERM", "exit_source": FILE}, "kill request"),
    Case("agent wrote exit after SIGKILL", BY_AGENT, GONE, prev(S.RUNNING, kill=True), S.KILLED,
         {"exit_signal": "KILL"}),
    Case("file exit code after kill, no signal", CODE3, NOT_ASKED, prev(S.RUNNING, kill=True),
         S.FAILED, {"exit_code": 3}),
    Case("file success despite kill", OK, NOT_ASKED, prev(S.RUNNING, kill=True), S.SUCCEEDED),
    # -- no exit: progress ---------------------------------------------------------------
    Case("started, runner not asked", STARTED, NOT_ASKED, prev(S.SUBMITTED), S.RUNNING,
         {"runner_id": "42"}),
    Case("started, runner running", STARTED, RUNNING, prev(S.SUBMITTED, forgot=1), S.RUNNING,
         {"forgot_count": 0}),
    Case("queued, runner pending", QUEUED, PENDING, prev(S.SUBMITTED), S.SUBMITTED,
         {"forgot_count": 0}, "waiting in the runner"),
    Case("queued, runner running, wrapper not started", QUEUED, RUNNING, prev(S.SUBMITTED),
         S.SUBMITTED, {}, "has not started"),
    Case("file missing, runner running", NO_FILE, RUNNING, prev(S.RUNNING), S.RUNNING),
    Case("file missing, not asked", NO_FILE, NOT_ASKED, prev(S.RUNNING), S.RUNNING),
    # -- transient submitting ------------------------------------------------------------
    Case("submitting, file has runner id", QUEUED, NOT_ASKED, prev(S.SUBMITTING), S.SUBMITTED,
         {"runner_id": "42"}),
    Case("submitting, file shows start", STARTED, NOT_ASKED, prev(S.SUBMITTING), S.RUNNING),
    Case("submitting, never reached the runner", NO_ID, NOT_ASKED, prev(S.SUBMITTING),
         S.SUBMIT_FAILED, {"error": "sbatch: error: invalid partition"}, "never reached",
         verb="submit", reply_error="sbatch: error: invalid partition"),
    Case("submitting, no file, never reached", NO_FILE, NOT_ASKED, prev(S.SUBMITTING),
         S.SUBMIT_FAILED, {}, "disk full", verb="submit",
         reply_error="cannot write job dir: disk full"),
    Case("submitting, no id yet, no word from agent", NO_ID, NOT_ASKED,
         Prev(S.SUBMITTING, created=JUST_NOW),
         S.SUBMITTING, {"runner_id": None}),
    Case("submitting, submit error but file has id", QUEUED, NOT_ASKED, prev(S.SUBMITTING),
         S.SUBMITTED, {}, verb="submit", reply_error="reply lost"),
    # -- runner query failed: keep state, carry the error ------------------------------
    Case("runner query failed, running", STARTED, FAILED_QUERY, prev(S.RUNNING), S.RUNNING,
         {"error": "squeue: timed out after 30s"}, "query failed"),
    Case("runner query failed, suspect stays suspect", QUEUED, FAILED_QUERY,
         prev(S.SUBMITTED, forgot=1), S.SUBMITTED, {"forgot_count": 1, "record_forgot": False}),
    Case("runner query failed, kill asked", STARTED, FAILED_QUERY,
         prev(S.RUNNING, kill=True, forgot=1), S.RUNNING, {"forgot_count": 1}),
    # -- runner says done, the file has no exit --------------------------------------------
    Case("runner done exit 1, no file exit", STARTED, DONE_1, prev(S.RUNNING), S.FAILED,
         {"exit_code": 1, "exit_source": RUN}, "from the runner (NODE_FAIL)"),
    Case("runner done exit 0, no file exit", STARTED, DONE_0, prev(S.RUNNING), S.FAILED,
         {"exit_code": 0, "exit_source": RUN}, "without recording an exit"),
    Case("runner done by signal", STARTED, DONE_KILL, prev(S.RUNNING), S.FAILED,
         {"exit_signal": "KILL"}, "signal KILL from the runner"),
    Case("runner done by signal after kill", QUEUED, DONE_KILL, prev(S.SUBMITTED, kill=True),
         S.KILLED, {"exit_signal": "KILL", "exit_source": RUN}),
    # -- runner forgot the job: two looks -------------------------------------------------
    Case("gone, first look", STARTED, GONE, prev(S.RUNNING), S.RUNNING,
         {"forgot_count": 1, "record_forgot": False}, "will look again"),
    Case("gone, second look", STARTED, GONE, prev(S.RUNNING, forgot=1), S.LOST,
         {"forgot_count": 2, "record_forgot": True, "exit_code": None}, "2 looks"),
    Case("gone while queued, first look", QUEUED, GONE, prev(S.SUBMITTED), S.SUBMITTED,
         {"forgot_count": 1}),
    Case("gone while queued, second look", QUEUED, GONE, prev(S.SUBMITTED, forgot=1), S.LOST),
    Case("gone, file missing, second look", NO_FILE, GONE, prev(S.RUNNING, forgot=1), S.LOST),
    Case("gone after kill, first look", STARTED, GONE, prev(S.RUNNING, kill=True), S.RUNNING,
         {"forgot_count": 1}),
    Case("gone after kill, second look", STARTED, GONE, prev(S.RUNNING, kill=True, forgot=1),
         S.KILLED, {"record_forgot": True, "exit_signal": None}, "kill was requested"),
    Case("gone from unknown, first look", QUEUED, GONE, prev(S.UNKNOWN), S.SUBMITTED,
         {"forgot_count": 1}),
    Case("done without exit, first look", STARTED, DONE_BLIND, prev(S.RUNNING), S.RUNNING,
         {"forgot_count": 1}, "says the job ended"),
    Case("done without exit, second look", STARTED, DONE_BLIND, prev(S.RUNNING, forgot=1), S.LOST,
         {"record_forgot": True}),
    Case("runner knows it again: count resets", STARTED, RUNNING, prev(S.RUNNING, forgot=1),
         S.RUNNING, {"forgot_count": 0}),
    Case("not asked: count kept", STARTED, NOT_ASKED, prev(S.RUNNING, forgot=1), S.RUNNING,
         {"forgot_count": 1}),
    # -- requeue ----------------------------------------------------------------------------
    Case("requeued after running", STARTED, PENDING, prev(S.RUNNING), S.SUBMITTED,
         {"forgot_count": 0}, "requeued"),
    Case("requeued job still pending", STARTED, PENDING, prev(S.SUBMITTED), S.SUBMITTED),
    # -- final states are sticky, except a file exit over an exit-less decision ------
    Case("lost, then the file shows success", OK, GONE, prev(S.LOST, forgot=2), S.SUCCEEDED,
         {"exit_code": 0, "exit_source": FILE}, "replaces 'lost'"),
    Case("lost, then the file shows a failure", CODE3, NOT_ASKED, prev(S.LOST, forgot=2), S.FAILED,
         {"exit_code": 3}, "source of truth"),
    Case("killed as gone, then the file shows TERM", TERM, GONE,
         prev(S.KILLED, kill=True, forgot=2), S.KILLED, {"exit_signal": "TERM"}, "replaces"),
    Case("failed from the runner, file shows success", OK, DONE_0, prev(S.FAILED, source=RUN),
         S.SUCCEEDED, {"exit_source": FILE}, "from the runner"),
    Case("lost, runner running again: stays lost", STARTED, RUNNING, prev(S.LOST, forgot=2),
         S.LOST ),
    Case("failed from file is final", OK, RUNNING, prev(S.FAILED, source=FILE), S.FAILED,
         {"exit_code": None, "exit_source": None}, "final"),
    Case("succeeded is final", STARTED, PENDING, prev(S.SUCCEEDED, source=FILE), S.SUCCEEDED),
    Case("killed from file is final", OK, NOT_ASKED, prev(S.KILLED, kill=True, source=FILE),
         S.KILLED ),
    Case("submit-failed is final", OK, RUNNING, prev(S.SUBMIT_FAILED), S.SUBMIT_FAILED),
    # -- the call: no line, an error with no status, a submit that never ran ------------
    Case("no line for the job from a complete call: error only, state kept", QUEUED, NOT_ASKED,
         prev(S.SUBMITTED), S.SUBMITTED, {"error": "agent on h timed out", "touched": False},
         "timed out", reply=False, call_error="agent on h timed out"),
    Case("no line and no call error", QUEUED, NOT_ASKED, prev(S.RUNNING), S.RUNNING,
         {"error": "no reply for this job", "touched": False}, reply=False),
    Case("an error with no status: error only", None, NOT_ASKED, prev(S.RUNNING), S.RUNNING,
         {"error": "job dir 'x': escapes", "touched": False}, reply_error="job dir 'x': escapes",
         reply=True),
    Case("kill error with the file read: kept beside the state", STARTED, NOT_ASKED,
         prev(S.RUNNING, kill=True), S.RUNNING, {"error": "kill: kill failed: scancel: exit 1"},
         verb="kill", reply_error="kill failed: scancel: exit 1"),
    Case("kill: already finished", OK, NOT_ASKED, prev(S.RUNNING, kill=True), S.SUCCEEDED,
         verb="kill"),
    Case("kill verified, runner gone, no exit recorded: killed at once", STARTED, GONE,
         prev(S.RUNNING, kill=True), S.KILLED, {"exit_code": None}, "the runner no longer",
         verb="kill", kill_verified=True, kill_detail="cancelled; the runner no longer has it"),
    Case("kill verified, but the job had ended well: succeeded", OK, NOT_ASKED,
         prev(S.RUNNING, kill=True), S.SUCCEEDED, {"exit_code": 0}, verb="kill",
         kill_verified=True, kill_detail="cancelled; its status file records the end"),
    Case("kill not verified: the reason is the error, state kept", STARTED, NOT_ASKED,
         prev(S.RUNNING, kill=True), S.RUNNING,
         {"error": "kill: kill not verified: still running (R) after 60 s"}, verb="kill",
         reply_error="kill not verified: still running (R) after 60 s"),
    Case("another submission's job dir: error only, nothing of it reported", None, NOT_ASKED,
         prev(S.RUNNING), S.RUNNING, {"error": "job dir r/x on h holds submission a/1/1",
         "touched": False}, reply_error="job dir r/x on h holds submission a/1/1", reply=True),
    # -- a vanished job dir: said, then lost after the runner forgets it twice ------------
    Case("no status file, runner running: running, the missing dir said", NO_FILE, RUNNING,
         prev(S.RUNNING), S.RUNNING,
         {"error": "no job.status in r/jobs/7-j on login2: the job dir is gone"}),
    Case("no status file, runner gone, second look: lost, the missing dir said", NO_FILE, GONE,
         prev(S.RUNNING, forgot=1), S.LOST,
         {"error": "no job.status in r/jobs/7-j on login2: the job dir is gone"}, "2 looks"),
    # -- submit replies -------------------------------------------------------------------
    Case("submit accepted: submitted on the host that answered", QUEUED, NOT_ASKED,
         Prev(S.SUBMITTING, host=None), S.SUBMITTED, {"runner_id": "42", "host": "login2"},
         verb="submit", runner_id="42"),
    Case("submit error with no status: submit-failed, not unknown", None, NOT_ASKED,
         prev(S.SUBMITTING), S.SUBMIT_FAILED, {"error": "job dir 'x': escapes",
         "host": "login2"}, verb="submit", reply_error="job dir 'x': escapes", reply=True),
    Case("submit taken by the runner, recording failed: submitted, error kept", QUEUED,
         NOT_ASKED, prev(S.SUBMITTING), S.SUBMITTED, {"error": "could not record"},
         verb="submit", runner_id="42", reply_error="could not record"),
    Case("submit refused as submitted before, started: running", STARTED, NOT_ASKED,
         prev(S.SUBMITTING), S.RUNNING, {}, verb="submit", resubmit_refused=True),
    Case("submit: no host reached (ssh's word: never connected)", QUEUED, NOT_ASKED,
         prev(S.SUBMITTING), S.SUBMIT_FAILED,
         {"error": "no host of platform 'p' reachable: connect to host p: refused"},
         verb="submit", reply=False, unreachable=True, not_started=True,
         call_error="no host of platform 'p' reachable: connect to host p: refused"),
    # the connection failed, perhaps after the agent began: the job may be with the runner
    Case("submit: unreachable after it may have run: still submitting", QUEUED, NOT_ASKED,
         prev(S.SUBMITTING), S.SUBMITTING, {"error": "no host of platform 'p' reachable: timeout"},
         verb="submit", reply=False, unreachable=True,
         call_error="no host of platform 'p' reachable: timeout"),
    Case("submit: the agent never started", QUEUED, NOT_ASKED, prev(S.SUBMITTING),
         S.SUBMIT_FAILED, {"error": "install failed"}, verb="submit", reply=False,
         not_started=True, call_error="install failed"),
    Case("submit: the call was cut before this job's line: nothing recorded", QUEUED, NOT_ASKED,
         prev(S.SUBMITTING), S.SUBMITTING, {"none": True}, verb="submit", reply=False),
    # -- a submission interrupted before the runner took the job ------------------------
    Case("submitting, no trace, long ago: interrupted", NO_ID, NOT_ASKED, prev(S.SUBMITTING),
         S.SUBMIT_FAILED, {"error": INTERRUPTED}, "interrupted"),
    Case("submitting, no trace, just now: may still be on its way", NO_ID, NOT_ASKED,
         Prev(S.SUBMITTING, created=JUST_NOW), S.SUBMITTING),
    Case("submitting, no trace, an agent holds its lock: in progress", NO_ID, NOT_ASKED,
         prev(S.SUBMITTING), S.SUBMITTING, in_progress=True),
    Case("submitting, started with no id: not interrupted", replace(STARTED, runner_id=None),
         NOT_ASKED, prev(S.SUBMITTING), S.RUNNING),
    # -- what the update carries --------------------------------------------------------------
    Case("a job with no host learns the host that answered", STARTED, RUNNING,
         Prev(S.SUBMITTING, host=None), S.RUNNING, {"host": "login2"}),
    Case("a job with a host keeps it", STARTED, RUNNING, prev(S.RUNNING), S.RUNNING,
         {"host": KEEP}),
    Case("a damaged status file is said plainly", DAMAGED, RUNNING, prev(S.RUNNING), S.RUNNING,
         {"error": "status file r/jobs/7-j/job.status: line 7: not KEY=VALUE"}),
    Case("a clean look at a live job clears the old error", STARTED, RUNNING,
         Prev(S.RUNNING, error="old trouble"), S.RUNNING, {"error_raw": None}),
    Case("a final job keeps the error it ended with", OK, NOT_ASKED,
         Prev(S.FAILED, source=RUN, error="from the runner"), S.SUCCEEDED, {"error_raw": KEEP}),
    Case("unreachable since the first time, not the last", None, NOT_ASKED,
         Prev(S.UNKNOWN, unreachable_since="t0"), S.UNKNOWN, {"unreachable_raw": KEEP}),
    Case("unreachable for the first time: since now", None, NOT_ASKED, prev(S.RUNNING),
         S.UNKNOWN, {"unreachable_raw": T}),
    Case("messages go to the ledger", TALKED, RUNNING, prev(S.RUNNING), S.RUNNING,
         {"messages": 1}),
    # -- requeue/preemption (Slurm): a TERM exit is final only once the runner lets go --
    Case("TERM exit, runner holds it pending: requeued", TERM, PENDING, prev(S.RUNNING),
         S.SUBMITTED, {"exit_code": None, "exit_source": None}, "requeued",
         requeue=SLURM_REQUEUE),
    Case("TERM exit, runner still runs it: not final yet", TERM, RUNNING, prev(S.RUNNING),
         S.RUNNING, {"exit_source": None}, "ending or requeued", requeue=SLURM_REQUEUE),
    Case("TERM exit, runner query failed: not final, error kept", TERM, FAILED_QUERY,
         prev(S.RUNNING), S.RUNNING, {"error": "squeue: timed out after 30s"},
         "cannot be ruled out", requeue=SLURM_REQUEUE),
    Case("TERM exit, runner says it ended: file exit", TERM, DONE_BLIND, prev(S.RUNNING),
         S.FAILED, {"exit_signal": "TERM", "exit_source": FILE}, requeue=SLURM_REQUEUE),
    Case("TERM exit, runner forgot it: file exit", TERM, GONE, prev(S.RUNNING, kill=True),
         S.KILLED, {"exit_signal": "TERM"}, requeue=SLURM_REQUEUE),
    Case("TERM exit, runner not asked: file exit", TERM, NOT_ASKED, prev(S.RUNNING),
         S.FAILED, {"exit_signal": "TERM"}, requeue=SLURM_REQUEUE),
    Case("code exit, runner pending: file exit (not a requeue signal)", CODE3, PENDING,
         prev(S.RUNNING), S.FAILED, {"exit_code": 3}, requeue=SLURM_REQUEUE),
    Case("TERM exit by the agent is final", replace(BY_AGENT, exit_signal="TERM"), PENDING,
         prev(S.RUNNING, kill=True), S.KILLED, requeue=SLURM_REQUEUE),
    Case("TERM exit, runner pending, runner does not requeue: file exit", TERM, PENDING,
         prev(S.RUNNING), S.FAILED, {"exit_signal": "TERM"}),
    Case("restarted after a requeue: running again", replace(STARTED, restarts=1), RUNNING,
         prev(S.SUBMITTED), S.RUNNING, {"exit_code": None}, requeue=SLURM_REQUEUE),
]
# fmt: on


def learnt(update: JobUpdate, name: str) -> Any:
    value = getattr(update, name)
    return None if value is KEEP else value


def check(case: Case, update: Optional[JobUpdate]) -> None:
    if case.expect.get("none"):
        assert update is None
        return
    assert update is not None
    state = case.prev.state if update.state is KEEP else update.state
    assert state is case.state, update.reason
    assert update.expect_state is case.prev.state  # applied only to the job as judged
    assert update.reason  # every update says why
    assert case.reason_has in update.reason
    for key, wanted in case.expect.items():
        if key in ("exit_code", "exit_signal", "exit_source", "runner_id", "error"):
            assert learnt(update, key) == wanted, (key, update)
        elif key == "error_raw":
            assert update.error == wanted, update
        elif key == "unreachable_raw":
            assert update.unreachable_since == wanted, update
        elif key == "host_unreachable":
            assert (learnt(update, "unreachable_since") is not None) == wanted, update
        elif key == "record_forgot":
            forgot = any(n.kind is EventKind.RUNNER_FORGOT for n in update.notes)
            assert forgot == wanted, update
        elif key == "touched":
            assert (update.state is not KEEP) == wanted, update
        elif key == "messages":
            assert len(update.messages) == wanted, update
        else:
            assert getattr(update, key) == wanted, (key, update)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_judge(case: Case) -> None:
    rules = Rules(NOW, case.requeue, submit_grace=60.0)
    check(case, judge(case.prev.record(), case.look(), rules))


def test_table_covers_every_state() -> None:
    produced = {c.state for c in CASES}
    assert produced == set(S), set(S) - produced


def test_table_names_are_unique() -> None:
    names = [c.name for c in CASES]
    assert len(names) == len(set(names))


def test_lost_takes_the_contract_number_of_looks() -> None:
    # walk a job through consecutive "gone" answers, feeding each update back
    state = prev(S.RUNNING)
    looks = 0
    while not state.state.is_final:
        looks += 1
        update = judge(state.record(), Case("", STARTED, GONE, state, S.LOST).look(), Rules(NOW))
        assert update is not None and update.state is not KEEP
        assert update.forgot_count is not KEEP
        state = prev(update.state, forgot=update.forgot_count)
    assert (state.state, looks) == (S.LOST, LOST_AFTER_LOOKS)


def test_runner_view_is_answer_or_error() -> None:
    with pytest.raises(ValueError):
        RunnerView(info=RunnerJobInfo("1", R.GONE), error="both")
