"""A poll that brought back what the last one did is not judged again, and that
changes nothing: the ledger ends the same as when every look is judged.

Two real ledgers with the same jobs get the same random series of looks
(replies drawn from a pool of typical lines, calls that reach nobody,
kill requests and errors written by "another command" between polls):
one records through ``QuietJobs``, the other judges every look. After each
poll their records and events must be equal. Also the pieces the skip rests
on: ``ReplyLines`` hands back the same object for the same text, and the
serving agent's ``Repeats`` reuses a parse and a line only for equal input.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jobrelay.agent.main import Repeats
from jobrelay.engine.protocol import JobReply, JobRequest, ProtocolError, Request, job_wire
from jobrelay.ledger import JobSpec, JobUpdate, Ledger
from jobrelay.manager.agent_reply import AgentReply
from jobrelay.manager.quiet import (
    LINE_MEMO_PARSES,
    PollRequests,
    QuietJobs,
    ReplyLines,
    RequestTexts,
)
from jobrelay.manager.recording import record_reply
from jobrelay.manager.stamps import StatusStamps
from jobrelay.platforms.config import parse_platform
from jobrelay.runners.base import RunnerJobInfo, RunnerState
from jobrelay.status.facts import Message, StatusFacts

JOBS = 3
PLATFORM = parse_platform("p", {"hosts": ["h1", "h2"], "runner": "slurm"}, "test")


def pool(ref: str, job_dir: str) -> list[JobReply | None]:
    """Typical reply lines about one job; None: the reply has no line for it."""
    rid = "7" + ref[-1]
    running = RunnerJobInfo(rid, RunnerState.RUNNING)
    started = StatusFacts(
        exists=True,
        runner_name="slurm",
        runner_id=rid,
        submit_time="2026-12-03T10:00:00Z",
        start_time="2026-12-03T10:00:05Z",
        pid=99,
        messages=(Message("2026-12-03T10:00:06Z", "INFO", "step"),),
    )
    ended = StatusFacts(**{**started.__dict__, "exit": "succeeded", "exit_code": 0})

    def line(**values: Any) -> JobReply:
        return JobReply(ref, job_dir, "poll", **values)

    return [
        None,
        line(status=StatusFacts(exists=True, runner_name="slurm", runner_id=rid)),
        line(status=started, runner=running, runner_id=rid, stamp="1:10:1"),
        line(runner=running, runner_id=rid, stamp="1:10:1", unchanged=True),
        line(runner=running, runner_id=rid, stamp="1:99:1", unchanged=True),
        line(status=started, runner=RunnerJobInfo(rid, RunnerState.GONE), stamp="1:10:1"),
        line(status=started, runner_error="slurm_load_jobs error: timed out", stamp="1:10:1"),
        line(status=ended, stamp="1:20:2"),
        line(error="job dir holds another submission"),
        line(status=StatusFacts(exists=False), runner=running),  # its error names the host
    ]


def comparable(ledger: Ledger) -> list[tuple[Any, ...]]:
    """The jobs and their events, but for times and job dirs (named by each ledger's id)."""
    rows = []
    for job in sorted(ledger.find(run="r"), key=lambda j: j.id):
        skip = ("created", "updated", "job_dir")
        fields = {
            k: v.replace(job.job_dir, "DIR") if isinstance(v, str) else v
            for k, v in job.__dict__.items()
            if k not in skip
        }
        # the two ledgers judge a moment apart: when the spell began may read a
        # second apart across a tick; that it began is what must agree
        fields["unreachable_since"] = job.unreachable_since is not None
        events = [(e.kind, e.detail.replace(job.job_dir, "DIR")) for e in ledger.events(job.id)]
        rows.append((sorted(fields.items(), key=str), events))
    return rows


step = st.one_of(
    st.tuples(
        st.just("poll"),
        st.sampled_from(["h1", "h2"]),
        st.lists(st.integers(0, 9), min_size=JOBS, max_size=JOBS),
    ),
    st.tuples(st.just("unreachable"), st.sampled_from(["h1", "h2"]), st.just([])),
    st.tuples(st.just("kill-requested"), st.just(""), st.lists(st.integers(0, JOBS - 1))),
    st.tuples(st.just("error-written"), st.just(""), st.lists(st.integers(0, JOBS - 1))),
    st.tuples(st.just("repeat"), st.just(""), st.just([])),  # the last poll again: the quiet case
    st.tuples(st.just("repeat"), st.just("other host"), st.just([])),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(step, min_size=1, max_size=16))
def test_skipping_quiet_looks_records_what_judging_every_look_records(
    steps: list[tuple[str, str, list[int]]],
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        specs = [JobSpec("r", f"j{i}", "p", "p", "slurm", "/s.sh") for i in range(JOBS)]
        quiet_ledger = Ledger.open(Path(tmp) / "quiet.db")
        plain_ledger = Ledger.open(Path(tmp) / "plain.db")
        with quiet_ledger, plain_ledger:
            quiet_jobs = quiet_ledger.create_jobs(specs)
            plain_ledger.create_jobs(specs)
            lines = {j.ref: pool(j.ref, j.job_dir) for j in quiet_jobs}
            quiet, stamps_q, stamps_p = QuietJobs(), StatusStamps(), StatusStamps()
            last: tuple[str, list[int]] = ("h1", [1] * JOBS)
            for kind, host, picks in steps:
                if kind == "repeat":
                    other = {"h1": "h2", "h2": "h1"}[last[0]] if host else last[0]
                    kind, host, picks = "poll", other, last[1]
                elif kind == "poll":
                    last = (host, picks)
                ids = sorted({quiet_jobs[i].id for i in picks}) if kind != "poll" else []
                if kind == "kill-requested":  # another command's write between two polls
                    quiet_ledger.mark_kill_requested(ids, "by test")
                    plain_ledger.mark_kill_requested(ids, "by test")
                    continue
                if kind == "error-written":
                    for ledger in (quiet_ledger, plain_ledger):
                        ledger.apply([JobUpdate(i, error="by another command") for i in ids])
                    continue
                if kind == "unreachable":
                    reply = AgentReply(host, unreachable=True, error="ssh: connect timed out")
                else:
                    chosen = {ref: lines[ref][p] for ref, p in zip(lines, picks, strict=True)}
                    replies = {ref: line for ref, line in chosen.items() if line is not None}
                    reply = AgentReply(host, replies, complete=True, agent_version="x")
                batch_q = [j for j in quiet_ledger.find(run="r") if not j.state.is_final]
                batch_p = [j for j in plain_ledger.find(run="r") if not j.state.is_final]
                record_reply(quiet_ledger, PLATFORM, "poll", batch_q, reply, stamps_q, quiet=quiet)
                record_reply(plain_ledger, PLATFORM, "poll", batch_p, reply, stamps_p)
                assert comparable(quiet_ledger) == comparable(plain_ledger), (kind, host, picks)


def test_a_quiet_job_is_judged_again_once_its_record_or_host_changes(tmp_path: Path) -> None:
    with Ledger.open(tmp_path / "l.db") as ledger:
        (job,) = ledger.create_jobs([JobSpec("r", "j", "p", "p", "slurm", "/s.sh")])
        line = pool(job.ref, job.job_dir)[1]  # the file as submit leaves it
        assert line is not None
        quiet = QuietJobs()
        reply = AgentReply("h1", {job.ref: line}, complete=True)
        running = record_reply(ledger, PLATFORM, "poll", [job], reply, quiet=quiet)[job.id]
        assert len(quiet) == 0  # that look changed the job: nothing to skip yet
        record_reply(ledger, PLATFORM, "poll", [running], reply, quiet=quiet)
        assert quiet.unchanged(running, "h1", line)  # the same look changed nothing
        assert not quiet.unchanged(running, "h2", line)
        # a job still submitting is judged by the clock (the submit grace): never skipped
        quiet.remember(job, "h1", line)
        assert not quiet.unchanged(job, "h1", line)
        (asked,) = ledger.mark_kill_requested([job.id], "by test")
        assert not quiet.unchanged(asked, "h1", line)
        same_text = pool(job.ref, job.job_dir)[1]  # equal, but not the decoded object
        assert not quiet.unchanged(running, "h1", same_text)  # type: ignore[arg-type]


def test_reply_lines_decodes_a_text_once_and_forgets_texts_no_longer_sent() -> None:
    lines = ReplyLines()
    one = JobReply("r/1", "d1", "poll", stamp="1:1:1", unchanged=True).to_json()
    two = JobReply("r/2", "d2", "poll", stamp="1:1:1", unchanged=True).to_json()
    end = '{"agent_version":"x","count":2,"host":"h","v":1,"end":true}'
    first = lines.parse("h", "\n".join([one, two, end]))
    again = lines.parse("h", "\n".join([one, two, end]))
    assert first.complete and again.complete and again.agent_version == "x"
    assert again.replies["r/1"] is first.replies["r/1"]
    assert again.replies["r/1"] == JobReply("r/1", "d1", "poll", stamp="1:1:1", unchanged=True)
    changed = JobReply("r/2", "d2", "poll", stamp="1:2:1", unchanged=True).to_json()
    third = lines.parse("h", "\n".join([one, changed, "not json", end]))
    assert third.replies["r/2"].stamp == "1:2:1" and third.error and "not JSON" in third.error
    for _ in range(2 * LINE_MEMO_PARSES):  # unused for two generations: gone
        lines.parse("h", "\n".join([changed, end]))
    assert lines.parse("h", one).replies["r/1"] is not first.replies["r/1"]  # forgotten


def test_the_serving_agent_reuses_a_parse_and_a_line_only_for_equal_input() -> None:
    repeats = Repeats()
    text = Request("poll", "/root", [JobRequest("r/1", "d1")]).to_json()
    assert repeats.parse(text) is repeats.parse(text)
    other = Request("poll", "/root", [JobRequest("r/2", "d2")]).to_json()
    assert repeats.parse(other).jobs[0].job == "r/2"
    with pytest.raises(ProtocolError):
        repeats.parse("{not a request")
    running = JobReply("r/1", "d1", "poll", runner=RunnerJobInfo("7", RunnerState.RUNNING))
    first = repeats.encode(running)
    assert repeats.encode(JobReply(**running.__dict__)) is first
    ended = JobReply("r/1", "d1", "poll", runner=RunnerJobInfo("7", RunnerState.DONE, 0))
    assert repeats.encode(ended) == ended.to_json() != first


def test_a_poll_request_is_made_again_when_the_record_or_the_last_read_changes(
    tmp_path: Path,
) -> None:
    with Ledger.open(tmp_path / "l.db") as ledger:
        (job,) = ledger.create_jobs([JobSpec("r", "j", "p", "p", "slurm", "/s.sh")])
        stamps = StatusStamps()
        made = PollRequests(
            lambda j: JobRequest(j.ref, j.job_dir, runner_id=j.runner_id or ""), stamps
        )
        texts = RequestTexts()
        (first,) = made.requests([job])
        assert made.requests([job])[0] is first  # nothing changed: the same request
        assert made.requests([ledger.get(job.id)])[0] is first  # an equal record read again
        assert texts.encode([first]) == texts.encode([first]) == [job_wire(first)]
        facts = StatusFacts(exists=True, runner_name="slurm", runner_id="71")
        stamps.resolve(job.id, JobReply(job.ref, job.job_dir, "poll", status=facts, stamp="5:1:1"))
        (read,) = made.requests([job])
        assert read is not first and read.seen == "5:1:1" and read.runner_id == "71"
        (moved,) = ledger.apply([JobUpdate(job.id, runner_id="72")]).jobs.values()
        (again,) = made.requests([moved])
        assert again is not read and again.runner_id == "71"  # the file's id is what is sent
        assert texts.encode([again]) == [job_wire(again)] != [job_wire(first)]
