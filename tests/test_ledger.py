"""The ledger on real SQLite files: records, history, concurrency, crash safety, JOB lookup."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from collections import defaultdict
from pathlib import Path
from typing import Dict, List

import pytest

from jobrelay.ledger import (
    KEEP,
    AmbiguousJob,
    EventKind,
    EventNote,
    ExitSource,
    InvalidName,
    JobNotFound,
    JobSpec,
    JobUpdate,
    Ledger,
)
from jobrelay.states import JobState
from jobrelay.status.facts import Message

WORKER = Path(__file__).resolve().parent / "ledger_worker.py"

HOSTILE_NAMES = [
    "plain",
    "with space",
    'it\'s "quoted"',
    "semi;colon && rm -rf / #",
    "$(touch /tmp/pwned) `id` ${HOME}",
    "new\nline\r\nand\ttab",
    "back\\slash\\n not a newline",
    "'; DROP TABLE jobs; --",
    "../../etc/passwd",
    "-starts-with-dash",
    "ünïcødé ✓ 日本",
    "x" * 2000,
    "42",
]


def spec(run: str, name: str, **kw: object) -> JobSpec:
    fields: Dict[str, object] = {
        "platform": "hpc",
        "install_target": "hpc",
        "runner": "slurm",
        "script_path": "/home/me/job.sh",
        "directives": {"cpus": 4, "raw": ["#SBATCH --qos=low"]},
        "env": {"A": "b c"},
    }
    fields.update(kw)
    return JobSpec(run, name, **fields)  # type: ignore[arg-type]


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "state" / "ledger.db"


@pytest.fixture
def ledger(path: Path):  # type: ignore[no-untyped-def]
    with Ledger.open(path) as opened:
        yield opened


# -- records ----------------------------------------------------------------------


def test_hostile_names_round_trip_across_processes(path: Path) -> None:
    with Ledger.open(path) as ledger:
        made = ledger.create_jobs([spec("run one", n) for n in HOSTILE_NAMES])
    with Ledger.open(path) as again:
        for job, name in zip(made, HOSTILE_NAMES, strict=True):
            back = again.get(job.ref)
            assert back.name == name
            assert back == job
            assert [j.id for j in again.find(run="run one", name=name)] == [job.id]
    # a second process reads them back byte for byte
    code = (
        "import sys, json; sys.path.insert(0, sys.argv[2]);"
        "from jobrelay.ledger import Ledger;"
        "print(json.dumps([j.name for j in Ledger.open(sys.argv[1]).find()]))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(path), str(WORKER.parent.parent / "src")],
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(out.stdout) == HOSTILE_NAMES


def test_new_jobs_are_submitting_with_spec_kept(ledger: Ledger) -> None:
    (job,) = ledger.create_jobs([spec("r", "a b")])
    assert job.state is JobState.SUBMITTING
    assert job.ref == f"r/{job.id}"
    assert (job.submit_num, job.host, job.runner_id, job.kill_requested) == (1, None, None, False)
    assert dict(job.directives) == {"cpus": 4, "raw": ["#SBATCH --qos=low"]}
    assert dict(job.env) == {"A": "b c"}
    assert job.script_path == "/home/me/job.sh"
    assert [e.kind for e in ledger.events(job.id)] == [EventKind.CREATE]


def test_submit_numbers_count_per_run_and_name(ledger: Ledger) -> None:
    first = ledger.create_jobs([spec("r1", "a"), spec("r1", "a"), spec("r1", "b")])
    later = ledger.create_jobs([spec("r1", "a"), spec("r2", "a")])
    assert [j.submit_num for j in first + later] == [1, 2, 1, 3, 1]


def test_job_dirs_are_unique_and_path_safe(ledger: Ledger) -> None:
    jobs = ledger.create_jobs([spec("r", n) for n in HOSTILE_NAMES] * 2)
    dirs = [j.job_dir for j in jobs]
    assert len(set(dirs)) == len(dirs)
    for job in jobs:
        head, jobs_dir, leaf = job.job_dir.split("/")
        assert (head, jobs_dir) == ("r", "jobs")
        assert leaf.startswith(f"{ledger.ledger_id[:16]}-{job.id}-")
        assert all(c.isalnum() or c in "._-" for c in leaf)


@pytest.mark.parametrize(
    ("run", "name", "complaint"),
    [
        ("r", "", "empty"),
        ("r", "nul\x00inside", "NUL"),
        ("r", "surrogate \udcff", "Unicode"),
        ("a/b", "x", "'/'"),
        ("..", "x", "'/'"),
        ("-r", "x", "'-'"),
        ("new\nline", "x", "control"),
        ("", "x", "empty"),
    ],
)
def test_names_the_ledger_cannot_hold_are_refused(
    ledger: Ledger, run: str, name: str, complaint: str
) -> None:
    with pytest.raises(InvalidName, match=complaint):
        ledger.create_jobs([spec("fine", "fine"), spec(run, name)])
    assert ledger.find() == []  # nothing of the refused batch was written


def test_record_submitted(ledger: Ledger) -> None:
    (job,) = ledger.create_jobs([spec("r", "a")])
    done = ledger.record_submitted(job.id, "login2", "1234;rjtest2")
    assert (done.state, done.host, done.runner_id) == (JobState.SUBMITTED, "login2", "1234;rjtest2")
    kinds = [(e.kind, e.detail) for e in ledger.events(job.id)]
    assert kinds[1:] == [
        (EventKind.SUBMIT, "1234;rjtest2 on login2"),
        (EventKind.STATE, "submitting -> submitted: the runner accepted the job"),
    ]


def test_record_submitted_after_a_poll_got_further(ledger: Ledger) -> None:
    (job,) = ledger.create_jobs([spec("r", "a")])
    ledger.apply([JobUpdate(job.id, state=JobState.RUNNING)])
    done = ledger.record_submitted(job.id, "h", "9")
    assert done.state is JobState.RUNNING


# -- apply --------------------------------------------------------------------------


def test_state_change_writes_one_state_event(ledger: Ledger) -> None:
    (job,) = ledger.create_jobs([spec("r", "a")])
    report = ledger.apply([JobUpdate(job.id, state=JobState.RUNNING, reason="wrapper started")])
    assert report.changed == (job.id,)
    states = ledger.events(job.id, kinds=[EventKind.STATE])
    assert [e.detail for e in states] == ["submitting -> running: wrapper started"]


def test_noop_update_writes_nothing(ledger: Ledger) -> None:
    (job,) = ledger.create_jobs([spec("r", "a")])
    ledger.apply([JobUpdate(job.id, state=JobState.RUNNING, error="e", forgot_count=1)])
    before = ledger.get(job.id)
    history = ledger.events(job.id)
    report = ledger.apply(
        [
            JobUpdate(job.id, state=JobState.RUNNING, error="e", forgot_count=1, runner_id=KEEP),
            JobUpdate(job.id),
        ]
    )
    assert report.unchanged == (job.id, job.id)
    assert report.changed == ()
    assert ledger.get(job.id) == before  # same updated time too
    assert ledger.events(job.id) == history


def test_exit_error_and_clearing(ledger: Ledger) -> None:
    (job,) = ledger.create_jobs([spec("r", "a")])
    ledger.apply(
        [
            JobUpdate(
                job.id,
                state=JobState.FAILED,
                exit_code=143,
                exit_signal="TERM",
                exit_source=ExitSource.STATUS_FILE,
                error="boom",
                unreachable_since="2026-01-01T00:00:00Z",
            )
        ]
    )
    ledger.apply([JobUpdate(job.id, unreachable_since=None, error="boom")])
    got = ledger.get(job.id)
    assert (got.exit_code, got.exit_signal, got.exit_source, got.exit) == (
        143,
        "TERM",
        ExitSource.STATUS_FILE,
        "SIGTERM",
    )
    assert (got.error, got.unreachable_since) == ("boom", None)
    assert [e.detail for e in ledger.events(job.id, kinds=[EventKind.ERROR])] == ["boom"]


def test_messages_are_recorded_once_each(ledger: Ledger) -> None:
    (job,) = ledger.create_jobs([spec("r", "a")])
    first = (Message("t1", "INFO", "hello"), Message("t1", "INFO", "hello"))
    ledger.apply([JobUpdate(job.id, messages=first)])
    ledger.apply([JobUpdate(job.id, messages=first)])  # the same file read again
    more = (*first, Message("t2", "WARNING", "careful\nnewline"))
    ledger.apply([JobUpdate(job.id, messages=more)])
    messages = ledger.events(job.id, kinds=[EventKind.MESSAGE])
    assert [(m.source_time, m.severity, m.detail) for m in messages] == [
        ("t1", "INFO", "hello"),
        ("t1", "INFO", "hello"),
        ("t2", "WARNING", "careful\nnewline"),
    ]


def test_stale_update_is_left_alone(ledger: Ledger) -> None:
    (job,) = ledger.create_jobs([spec("r", "a")])
    ledger.apply([JobUpdate(job.id, state=JobState.SUCCEEDED)])
    # another process decided from an older view (it thought the job was running)
    report = ledger.apply(
        [JobUpdate(job.id, state=JobState.LOST, expect_state=JobState.RUNNING, forgot_count=2)]
    )
    assert report.stale == (job.id,)
    got = ledger.get(job.id)
    assert (got.state, got.forgot_count) == (JobState.SUCCEEDED, 0)


def test_unknown_job_aborts_the_whole_batch(ledger: Ledger) -> None:
    (job,) = ledger.create_jobs([spec("r", "a")])
    with pytest.raises(JobNotFound):
        ledger.apply([JobUpdate(job.id, state=JobState.RUNNING), JobUpdate(job.id + 99)])
    assert ledger.get(job.id).state is JobState.SUBMITTING


def test_kill_requested_once(ledger: Ledger) -> None:
    jobs = ledger.create_jobs([spec("r", "a"), spec("r", "b")])
    ledger.mark_kill_requested([jobs[0].id])
    marked = ledger.mark_kill_requested([j.id for j in jobs], detail="jobrelay kill")
    assert [j.kill_requested for j in marked] == [True, True]
    kills = [len(ledger.events(j.id, kinds=[EventKind.KILL])) for j in jobs]
    assert kills == [1, 1]


def test_notes_are_events(ledger: Ledger) -> None:
    (job,) = ledger.create_jobs([spec("r", "a")])
    ledger.apply([JobUpdate(job.id, notes=(EventNote(EventKind.RUNNER_FORGOT, "gone"),))])
    assert [e.detail for e in ledger.events(job.id, kinds=[EventKind.RUNNER_FORGOT])] == ["gone"]


def test_find_and_runs(ledger: Ledger) -> None:
    a1, a2, b1 = ledger.create_jobs([spec("a", "x"), spec("a", "y"), spec("b", "x")])
    ledger.apply([JobUpdate(a2.id, state=JobState.RUNNING)])
    assert [j.id for j in ledger.find(run="a")] == [a1.id, a2.id]
    assert [j.id for j in ledger.find(states=[JobState.RUNNING])] == [a2.id]
    assert [j.id for j in ledger.find(name="x")] == [a1.id, b1.id]
    assert [j.id for j in ledger.find(ids=[b1.id, a1.id])] == [a1.id, b1.id]
    assert ledger.find(ids=[]) == []
    assert [j.id for j in ledger.find(refs=[b1.ref, a2.ref, f"b/{a1.id}"])] == [a2.id, b1.id]
    assert [j.id for j in ledger.find(refs=[b1.ref, a2.ref], run="a")] == [a2.id]
    runs = ledger.runs()
    assert [(r.run, r.jobs, dict(r.states)) for r in runs] == [
        ("a", 2, {"submitting": 1, "running": 1}),
        ("b", 1, {"submitting": 1}),
    ]


# -- the file -----------------------------------------------------------------------


def test_concurrent_processes_lose_and_duplicate_nothing(path: Path) -> None:
    workers, rounds = 4, 25
    # no ledger yet: the processes also race to create the file and its schema
    procs = [
        subprocess.Popen(
            [sys.executable, str(WORKER), "churn", str(path), "busy run", f"w{i}", str(rounds)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(workers)
    ]
    made: List[int] = []
    for proc in procs:
        out, err = proc.communicate()
        assert proc.returncode == 0, err
        made.extend(json.loads(out))
    with Ledger.open(path) as ledger:
        jobs = ledger.find(run="busy run")
        assert len(made) == len(set(made)) == workers * rounds * 3
        assert sorted(made) == [j.id for j in jobs]
        nums: Dict[str, List[int]] = defaultdict(list)
        for job in jobs:
            nums[job.name].append(job.submit_num)
            assert job.state is JobState.SUBMITTED
            assert job.runner_id == str(job.id)
            kinds = [e.kind for e in ledger.events(job.id)]
            assert kinds == [EventKind.CREATE, EventKind.STATE, EventKind.MESSAGE]
        for name, got in nums.items():
            assert sorted(got) == list(range(1, len(got) + 1)), name
        assert len(nums) == 2 + workers


# -- crash safety -----------------------------------------------------------------------


def _killed_batch(path: Path, stop_at: int, jobs: int) -> None:
    with Ledger.open(path) as ledger:
        ledger.create_jobs([spec("crash", f"job {i}") for i in range(jobs)])
    proc = subprocess.Popen(
        [sys.executable, str(WORKER), "batch", str(path), "crash", str(stop_at)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    said = proc.stdout.readline().strip()
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert said == ("mid" if stop_at else "done"), proc.stderr.read() if proc.stderr else ""


def test_kill_in_the_middle_of_a_batch_leaves_none_of_it(path: Path) -> None:
    jobs = 400
    _killed_batch(path, stop_at=jobs // 2, jobs=jobs)
    with Ledger.open(path) as ledger:
        found = ledger.find(run="crash")
        assert len(found) == jobs
        assert {j.state for j in found} == {JobState.SUBMITTING}
        assert all(len(ledger.events(j.id)) == 1 for j in found)  # CREATE only
        # the ledger is usable at once: no lock left behind
        report = ledger.apply([JobUpdate(found[0].id, state=JobState.RUNNING)])
        assert report.changed == (found[0].id,)


def test_kill_after_the_commit_keeps_all_of_it(path: Path) -> None:
    jobs = 400
    _killed_batch(path, stop_at=0, jobs=jobs)
    with Ledger.open(path) as ledger:
        found = ledger.find(run="crash")
        assert {j.state for j in found} == {JobState.RUNNING}
        assert all(len(ledger.events(j.id)) == 3 for j in found)


# -- resolving a CLI JOB argument ----------------------------------------------------------


def test_resolve_reference_id_and_name(ledger: Ledger) -> None:
    a1, a2, b1 = ledger.create_jobs([spec("a", "x y"), spec("a", "x y"), spec("b", "x y")])
    assert ledger.resolve(a1.ref) == a1
    assert ledger.resolve(str(a1.id), run="a") == a1
    assert ledger.resolve(str(b1.id)) == b1  # ids are unique across runs
    assert ledger.resolve("x y", run="a") == a2  # the latest submission
    assert ledger.resolve("x y", run="b") == b1


def test_resolve_errors(ledger: Ledger) -> None:
    a1, _b1 = ledger.create_jobs([spec("a", "x"), spec("b", "x")])
    with pytest.raises(AmbiguousJob, match=r"could be a/\d+, b/\d+"):
        ledger.resolve("x")
    with pytest.raises(JobNotFound, match="no job named 'nope' in run 'a'"):
        ledger.resolve("nope", run="a")
    with pytest.raises(JobNotFound, match=f"no job with id {a1.id} in run 'b'"):
        ledger.resolve(str(a1.id), run="b")
    with pytest.raises(JobNotFound, match=f"no job {a1.id} in run 'b'"):
        ledger.resolve(f"b/{a1.id}")
    with pytest.raises(JobNotFound, match="empty"):
        ledger.resolve("")
    with pytest.raises(JobNotFound, match="not a job reference"):
        ledger.get("no-slash")


def test_resolve_number_that_is_also_a_name(ledger: Ledger) -> None:
    (first,) = ledger.create_jobs([spec("r", "plain")])
    (named,) = ledger.create_jobs([spec("r", str(first.id))])
    with pytest.raises(AmbiguousJob, match=f"r/{first.id}, r/{named.id}"):
        ledger.resolve(str(first.id), run="r")
    # the full reference is never ambiguous
    assert ledger.resolve(first.ref) == first
    assert ledger.resolve(named.ref) == named


def test_resolve_name_that_looks_like_a_reference(ledger: Ledger) -> None:
    (job,) = ledger.create_jobs([spec("r", "other/7")])
    assert ledger.resolve("other/7", run="r") == job
