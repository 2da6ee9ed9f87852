"""`jobrelay kill`'s per-job result from the ledger after the kill and the
engine's word: the three results of issue 12 item 3, as a table. The cases
come from real runs (tests/test_kill_verified_real.py, bench/soak): the last
row is a Slurm job whose children got the cancel's TERM while its shell ran
on to `exit 0` (seen about once in 20 Slurm jobs killed in their first
seconds): it is gone by the kill, and its own end is its state.
"""

from __future__ import annotations

from typing import Optional

import pytest

from jobrelay.cli.render import kill_result
from jobrelay.ledger.records import JobRecord
from jobrelay.states import JobState as S


def record(
    state: S, code: Optional[int] = None, sig: Optional[str] = None, error: Optional[str] = None
) -> JobRecord:
    return JobRecord(
        id=7, run="r", name="j", submit_num=1, platform="p", host="h", install_target="p",
        runner="slurm", runner_id="12", job_dir="r/jobs/x-7-j", state=state, exit_code=code,
        exit_signal=sig, exit_source=None, error=error, kill_requested=True, forgot_count=0,
        unreachable_since=None, script_path="/s.sh", directives={}, env={},
        created="2026-12-03T07:00:00Z", updated="2026-12-03T07:00:00Z",
        exit_time="2026-12-03T07:00:09Z" if code is not None or sig else None,
    )  # fmt: skip


CASES = [
    # (ledger after the kill, engine's detail, result, words in the "how")
    (record(S.KILLED, 143, "TERM"), "terminated; its status file records the end",
     "killed", ["terminated"]),
    (record(S.KILLED), "cancelled; the runner no longer has the job", "killed", ["cancelled"]),
    (record(S.FAILED, 3), "already finished", "already finished",
     ["failed (exit 3)", "ended 2026-12-03T07:00:09Z"]),
    # the ledger already held the end: no host was asked
    (record(S.SUCCEEDED, 0), None, "already finished", ["succeeded (exit 0)"]),
    (record(S.RUNNING, error="kill: kill not verified: still running after 1 s"),
     "TERM sent", "not verified", ["still running after 1 s"]),
    (record(S.UNKNOWN, error="host1: unreachable"), None, "not verified", ["unreachable"]),
    (record(S.SUCCEEDED, 0), "cancelled; its status file records the end", "killed",
     ["cancelled", "its own end: succeeded (exit 0)"]),
]  # fmt: skip


@pytest.mark.parametrize(("job", "detail", "result", "words"), CASES)
def test_kill_result(job: JobRecord, detail: Optional[str], result: str, words: list[str]) -> None:
    got, how = kill_result(job, detail)
    assert got == result
    for word in words:
        assert word in how, how
    assert not how.startswith(got), how  # printed as "REF (NAME): RESULT: HOW": said once
