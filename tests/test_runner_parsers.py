"""Runner command lines and output parsers, on captured and documented output.

Slurm and at samples were captured on the test machine (Slurm 22.05, at
3.2.5). PBS, LSF and Grid Engine have no server here: their samples follow
the output documented in their manuals ("documented output, no server here").
"""

from __future__ import annotations

from typing import List, Optional, Sequence

import pytest

from jobrelay.processes import CommandResult
from jobrelay.runners.at import (
    AtRunner,
    at_commands,
    job_group,
    parse_atq,
    parse_ps,
    session_groups,
)
from jobrelay.runners.base import (
    Directives,
    KillTarget,
    PollAnswer,
    RunnerOptions,
    RunnerState,
    SubmitRequest,
)
from jobrelay.runners.lsf import LsfRunner
from jobrelay.runners.pbs import PbsRunner, TorqueRunner
from jobrelay.runners.sge import SgeRunner
from jobrelay.runners.slurm import SlurmRunner

P, R, D, G = RunnerState.PENDING, RunnerState.RUNNING, RunnerState.DONE, RunnerState.GONE


def result(
    stdout: str = "", stderr: str = "", rc: Optional[int] = 0, **kw: object
) -> CommandResult:
    return CommandResult(("cmd",), rc, stdout, stderr, **kw)  # type: ignore[arg-type]


class Scripted:
    """An executor answering from a list, recording what it was asked to run."""

    def __init__(self, *answers: CommandResult) -> None:
        self.answers = list(answers)
        self.calls: List[List[str]] = []
        self.stdins: List[Optional[str]] = []

    def __call__(
        self,
        argv: Sequence[str],
        *,
        stdin: Optional[str] = None,
        cwd: Optional[str] = None,
        timeout: float = 30.0,
    ) -> CommandResult:
        self.calls.append(list(argv))
        self.stdins.append(stdin)
        return self.answers.pop(0)


HOSTILE = 'x"; rm -rf / #\n#SBATCH --uid=0 $(id)'
JOB = SubmitRequest("/home/u/run/1/job", "/home/u/run/1/job/job", "#!/bin/bash\ntrue\n")


# ---------------------------------------------------------------- Slurm (captured here)
def test_slurm_directives_and_hostile_name() -> None:
    lines = SlurmRunner().header_lines(
        Directives(3725, 4, 2, 500, "debug", "proj", HOSTILE, ("#SBATCH --exclusive",)),
        "/home/u/run/1/job",
    )
    assert lines == [
        "#SBATCH --output=/home/u/run/1/job/job.out",
        "#SBATCH --error=/home/u/run/1/job/job.err",
        "#SBATCH --open-mode=append",
        "#SBATCH --time=1:02:05",
        "#SBATCH --cpus-per-task=4",
        "#SBATCH --nodes=2",
        "#SBATCH --mem=500M",
        "#SBATCH --partition=debug",
        "#SBATCH --account=proj",
        "#SBATCH --job-name=x_rm_-rf_SBATCH_--uid_0_id",
        "#SBATCH --exclusive",
    ]
    assert all("\n" not in line for line in lines)


def test_slurm_refuses_unsafe_values() -> None:
    with pytest.raises(ValueError):
        SlurmRunner().header_lines(Directives(queue="debug\n#SBATCH --uid=0"), "/d")
    with pytest.raises(ValueError):
        SlurmRunner().header_lines(Directives(), "/d with space")


def test_slurm_submit_ids_plain_and_clustered() -> None:
    plain = SlurmRunner(RunnerOptions(command_prefix=("runuser", "-u", "bob", "--")))
    run = Scripted(result("1234\n"))
    assert plain.submit([JOB], run)[0].runner_id == "1234"
    assert run.calls[0] == ["runuser", "-u", "bob", "--", "sbatch", "--parsable", JOB.job_file]
    multi = SlurmRunner(RunnerOptions(cluster="RJtest2"))
    run = Scripted(result("17;rjtest2\n"))
    assert multi.submit([JOB], run)[0].runner_id == "17;rjtest2"
    assert "--clusters=rjtest2" in run.calls[0]
    bad = multi.submit([JOB], Scripted(result("", "sbatch: error: Batch job submission failed", 1)))
    assert bad[0].runner_id is None and "submission failed" in (bad[0].error or "")


SQUEUE_PLAIN = "5|TIMEOUT|TimeLimit|36608\n6|FAILED|NonZeroExitCode|768\n7|PENDING|BeginTime|0\n"
SQUEUE_CLUSTERS = """CLUSTER: rjtest
JOBID|STATE|REASON|EXIT_CODE
5|TIMEOUT|TimeLimit|36608

CLUSTER: rjtest2
JOBID|STATE|REASON|EXIT_CODE
2|RUNNING|None|0
5|CANCELLED|None|15
"""


def test_slurm_one_squeue_for_all_ids_and_state_map() -> None:
    run = Scripted(result(SQUEUE_PLAIN), result("8|COMPLETED|0:0|None\n"))
    answer = SlurmRunner().poll(["5", "6", "7", "8"], run)
    assert answer.error is None
    assert [c[0] for c in run.calls] == ["squeue", "sacct"]
    assert "--jobs=5,6,7,8" in run.calls[0] and "--jobs=8" in run.calls[1]
    jobs = answer.jobs
    assert (jobs["5"].state, jobs["5"].exit_code, jobs["5"].reason) == (D, 143, "TIMEOUT")
    assert (jobs["6"].state, jobs["6"].exit_code) == (D, 3)
    assert (jobs["7"].state, jobs["7"].reason) == (P, "BeginTime")
    assert (jobs["8"].state, jobs["8"].exit_code, jobs["8"].reason) == (D, 0, "COMPLETED")


def test_slurm_completing_with_a_reason_is_done_as_the_state_the_reason_names() -> None:
    # A job at its time limit passes through COMPLETING with reason TimeLimit
    # (seen on the test cluster: a poll then read reason "COMPLETING" and the
    # ledger kept it, though the job timed out); a node lost mid-cleanup
    # leaves COMPLETING with JobLaunchFailure for as long as the node is away.
    out = "5|COMPLETING|TimeLimit|36608\n6|COMPLETING|JobLaunchFailure|0\n7|COMPLETING|None|0\n"
    jobs = (
        SlurmRunner(RunnerOptions(use_sacct=False))
        .poll(["5", "6", "7"], Scripted(result(out)))
        .jobs
    )
    assert (jobs["5"].state, jobs["5"].reason, jobs["5"].exit_code) == (D, "TIMEOUT", 143)
    assert (jobs["6"].state, jobs["6"].reason) == (D, "COMPLETING")
    assert (jobs["7"].state, jobs["7"].reason) == (R, "COMPLETING")


def test_slurm_cluster_headers_keep_overlapping_ids_apart() -> None:
    run = Scripted(result(SQUEUE_CLUSTERS))
    answer = SlurmRunner(RunnerOptions(use_sacct=False)).poll(["2;rjtest2", "5;rjtest2"], run)
    assert "--clusters=rjtest2" in run.calls[0]
    assert answer.jobs["2;rjtest2"].state is R
    # job 5 of rjtest (TIMEOUT) must not be taken for job 5 of rjtest2
    assert (answer.jobs["5;rjtest2"].reason, answer.jobs["5;rjtest2"].signal) == (
        "CANCELLED",
        "TERM",
    )


def test_slurm_cancelled_before_it_ran_has_no_exit() -> None:
    # squeue and sacct both read "exit 0" for a job cancelled while pending
    # (seen on the test cluster): that is not a success, nor an exit code 0
    run = Scripted(result("9|CANCELLED|BeginTime|0\n10|CANCELLED|None|15\n"))
    jobs = SlurmRunner(RunnerOptions(use_sacct=False)).poll(["9", "10"], run).jobs
    assert (jobs["9"].state, jobs["9"].exit_code, jobs["9"].signal) == (D, None, None)
    assert (jobs["10"].exit_code, jobs["10"].signal) == (None, "TERM")
    gone = result("", "slurm_load_jobs error: Invalid job id specified\n", 1)
    sacct = result("9|CANCELLED by 0|0:0|BeginTime\n")
    later = SlurmRunner().poll(["9"], Scripted(gone, sacct)).jobs["9"]
    assert (later.state, later.exit_code, later.signal, later.reason) == (
        D,
        None,
        None,
        "CANCELLED",
    )


def test_slurm_invalid_job_id_means_gone_not_error() -> None:
    stderr = "slurm_load_jobs error: Invalid job id specified\n"
    run = Scripted(result("", stderr, 1), result("", "", 0))
    answer = SlurmRunner().poll(["41", "42"], run)
    assert answer.error is None
    assert {i.state for i in answer.jobs.values()} == {G}


def test_slurm_sacct_detail_and_sacct_failure() -> None:
    gone = result("", "slurm_load_jobs error: Invalid job id specified\n", 1)
    sacct = "41|CANCELLED by 1001|0:15|None\n42|FAILED|2:0|NonZeroExitCode\n"
    answer = SlurmRunner().poll(["41", "42"], Scripted(gone, result(sacct)))
    assert (answer.jobs["41"].state, answer.jobs["41"].signal) == (D, "TERM")
    assert answer.jobs["41"].reason == "CANCELLED"
    assert (answer.jobs["42"].state, answer.jobs["42"].exit_code) == (D, 2)
    failed_sacct = result("", "sacct: error: Slurm accounting storage is disabled", 1)
    answer = SlurmRunner().poll(["41"], Scripted(gone, failed_sacct))
    assert answer.error is None and answer.jobs["41"].state is G


@pytest.mark.parametrize(
    "failure",
    [
        result(
            "", "slurm_load_jobs error: Unable to contact slurm controller (connect failure)", 1
        ),
        result("", "", None, timed_out=True),
        result("", "", None, start_error="No such file or directory: 'squeue'"),
    ],
)
def test_slurm_query_failure_is_error_never_gone(failure: CommandResult) -> None:
    run = Scripted(failure)
    answer = SlurmRunner().poll(["1", "2"], run)
    assert answer.error and not answer.jobs
    assert len(run.calls) == 1  # no sacct after a failed squeue


def test_slurm_kill_per_cluster_and_unknown_ids() -> None:
    run = Scripted(result(), result())
    outcomes = SlurmRunner().kill([KillTarget("3"), KillTarget("3;rjtest2"), KillTarget("4")], run)
    assert [o.ok for o in outcomes] == [True, True, True]
    assert sorted(run.calls) == [["scancel", "--clusters=rjtest2", "3"], ["scancel", "3", "4"]]
    err = "scancel: error: Kill job error on job id 9: Access/permission denied\n"
    outcomes = SlurmRunner().kill([KillTarget("8"), KillTarget("9")], Scripted(result("", err, 1)))
    assert [o.ok for o in outcomes] == [True, False]


def test_ids_are_checked_before_any_command_line() -> None:
    for runner in (SlurmRunner(), PbsRunner(), LsfRunner(), SgeRunner(), AtRunner()):
        with pytest.raises(ValueError):
            runner.poll(["1", "--uid=0"], Scripted(result()))
        with pytest.raises(ValueError):
            runner.kill([KillTarget("1 2")], Scripted(result(), result()))


# ---------------------------------------------------------------- at (captured here)
def test_at_commands_quote_paths() -> None:
    job = SubmitRequest("/home/u/it's here", "/home/u/it's here/job", "")
    text = at_commands(job)
    assert text.startswith("cd '/home/u/it'\"'\"'s here' && exec setsid bash ")
    assert ">'/home/u/it'\"'\"'s here/job.out'" in text


def test_at_submit_parses_stderr() -> None:
    stderr = "warning: commands will be executed using /bin/sh\njob 3 at Wed Nov 25 01:50:00 2026\n"
    run = Scripted(result("", stderr))
    assert AtRunner().submit([JOB], run)[0].runner_id == "3"
    assert run.calls[0] == ["at", "-M", "now"] and "setsid bash" in (run.stdins[0] or "")


ATQ = "1\tWed Nov 25 01:43:00 2026 = rjhost1\n2\tWed Nov 25 01:48:00 2026 a rjhost1\n"


def test_at_poll_one_atq() -> None:
    assert parse_atq(ATQ) == {"1": "=", "2": "a"}
    run = Scripted(result(ATQ))
    answer = AtRunner().poll(["1", "2", "3"], run)
    assert [answer.jobs[i].state for i in "123"] == [R, P, G]
    assert len(run.calls) == 1
    assert AtRunner().poll(["1"], Scripted(result("", "", None, timed_out=True))).error


PS = """    1     1     1 Ss   /sbin/init
 6815  6815  6815 Ss   /usr/sbin/atd -l 100 -b 1
 9464  6815  6815 S    /usr/sbin/atd -l 100 -b 1
 9467  9467  9467 Ss   bash /home/u/run/1/job/job
 9470  9467  9467 S    sleep 300
 9471  9471  9467 S    sleep 600
 9480  9480  9480 Zs   bash /home/u/run/2/job/job
"""


def test_at_job_group_needs_a_provable_leader() -> None:
    procs = parse_ps(PS)
    assert job_group(procs, KillTarget("1", 9467, "/home/u/run/1/job")) == 9467
    assert job_group(procs, KillTarget("1", None, "/home/u/run/1/job")) == 9467
    # a recycled pid, atd's group, a zombie: never a target
    assert job_group(procs, KillTarget("1", 9470, "/home/u/run/1/job")) is None
    assert job_group(procs, KillTarget("1", 6815, "/home/u/run/1/job")) is None
    assert job_group(procs, KillTarget("2", 9480, "/home/u/run/2/job")) is None
    # the session is the job: the script's group and one it made itself (set -m)
    assert session_groups(procs, [9467]) == {9467: [9467, 9471]}


# ------------------------------------------- PBS (documented output, no server here)
PBS_JSON = """{
    "timestamp":1479277336,
    "pbs_version":"19.1.3",
    "pbs_server":"pbs01",
    "Jobs":{
        "101.pbs01":{"Job_Name":"a","job_state":"Q","queue":"workq"},
        "102.pbs01":{"Job_Name":"b","job_state":"R","queue":"workq"},
        "103.pbs01":{"Job_Name":"c","job_state":"F","queue":"workq","Exit_status":0},
        "104.pbs01":{"Job_Name":"d","job_state":"F","queue":"workq","Exit_status":271},
        "105.pbs01":{"Job_Name":"e","job_state":"F","queue":"workq","Exit_status":-1},
        "106.pbs01":{"Job_Name":"f","job_state":"H","queue":"workq"}
    }
}"""


def test_pbs_pro_json_poll_documented_output_no_server_here() -> None:
    ids = ["101.pbs01", "102.pbs01", "103.pbs01", "104.pbs01", "105.pbs01", "106.pbs01"]
    run = Scripted(result(PBS_JSON, "qstat: Unknown Job Id 107.pbs01\n", 35))
    answer = PbsRunner().poll([*ids, "107.pbs01"], run)
    assert run.calls[0][:5] == ["qstat", "-x", "-f", "-F", "json"] and len(run.calls) == 1
    jobs = answer.jobs
    assert [jobs[i].state for i in ids] == [P, R, D, D, D, P]
    assert (jobs["103.pbs01"].exit_code, jobs["104.pbs01"].signal) == (0, "TERM")
    assert jobs["105.pbs01"].exit_code is None and "-1" in jobs["105.pbs01"].reason
    assert jobs["107.pbs01"].state is G


def test_pbs_errors_documented_output_no_server_here() -> None:
    denied = result("", "qstat: Unauthorized Request\n", 159)
    assert PbsRunner().poll(["1.s"], Scripted(denied)).error
    assert PbsRunner().poll(["1.s"], Scripted(result("{not json", "", 0))).error
    assert PbsRunner().poll(["1.s"], Scripted(result("", "", None, timed_out=True))).error


TORQUE_FULL = """Job Id: 548.moab
    Job_Name = STDIN
    Job_Owner = fred@moab
    job_state = R
    queue = batch
    Resource_List.walltime = 01:00:00

Job Id: 549.moab
    Job_Name = STDIN
    job_state = C
    queue = batch
    exit_status = 2
"""


def test_torque_full_text_documented_output_no_server_here() -> None:
    run = Scripted(result(TORQUE_FULL, "qstat: Unknown Job Id Error 550.moab\n", 153))
    answer = TorqueRunner().poll(["548.moab", "549", "550.moab"], run)
    assert run.calls[0] == ["qstat", "-f", "548.moab", "549", "550.moab"]
    assert answer.jobs["548.moab"].state is R
    assert (answer.jobs["549"].state, answer.jobs["549"].exit_code) == (D, 2)
    assert answer.jobs["550.moab"].state is G


def test_pbs_directives_submit_kill_documented_output_no_server_here() -> None:
    lines = PbsRunner().header_lines(Directives(3600, 8, 2, 1024, "workq", None, "9 lives"), "/d")
    assert lines == [
        "#PBS -o /d/job.out",
        "#PBS -e /d/job.err",
        "#PBS -l select=2:ncpus=8:mem=1024mb",
        "#PBS -l walltime=1:00:00",
        "#PBS -q workq",
        "#PBS -N j9_lives",
    ]
    assert "#PBS -l nodes=1:ppn=4,mem=10mb" in TorqueRunner().header_lines(
        Directives(cpus=4, memory_mb=10), "/d"
    )
    assert PbsRunner().submit([JOB], Scripted(result("8765.pbs01\n")))[0].runner_id == "8765.pbs01"
    qdel = result("", "qdel: Unknown Job Id 2.pbs01\nqdel: Unauthorized Request  3.pbs01\n", 35)
    outcomes = PbsRunner().kill(
        [KillTarget("1.pbs01"), KillTarget("2.pbs01"), KillTarget("3.pbs01")], Scripted(qdel)
    )
    assert [o.ok for o in outcomes] == [True, True, False]


# ------------------------------------------- LSF (documented output, no server here)
def test_lsf_submit_on_stdin_documented_output_no_server_here() -> None:
    run = Scripted(result("Job <1234> is submitted to queue <normal>.\n"))
    assert LsfRunner().submit([JOB], run)[0].runner_id == "1234"
    assert run.calls[0] == ["bsub"] and run.stdins[0] == JOB.script_text


def test_lsf_directives_documented_output_no_server_here() -> None:
    lines = LsfRunner().header_lines(
        Directives(90 * 60 + 1, 4, None, 2048, "normal", "p1", "a/b"), "/d"
    )
    assert lines == [
        "#BSUB -o /d/job.out",
        "#BSUB -e /d/job.err",
        "#BSUB -W 91",
        "#BSUB -n 4",
        "#BSUB -M 2048MB",
        "#BSUB -q normal",
        "#BSUB -P p1",
        "#BSUB -J a_b",
    ]
    with pytest.raises(ValueError):
        LsfRunner().header_lines(Directives(nodes=2), "/d")


BJOBS = "111|RUN|-\n112|PEND|-\n113|DONE|-\n114|EXIT|3\n115|USUSP|-\n"


def test_lsf_poll_documented_output_no_server_here() -> None:
    run = Scripted(result(BJOBS, "Job <116> is not found\n", 255))
    ids = ["111", "112", "113", "114", "115", "116"]
    answer = LsfRunner().poll(ids, run)
    assert run.calls[0][:4] == ["bjobs", "-noheader", "-o", "jobid stat exit_code delimiter='|'"]
    assert [answer.jobs[i].state for i in ids] == [R, P, D, D, R, G]
    assert (answer.jobs["113"].exit_code, answer.jobs["114"].exit_code) == (0, 3)
    down = result("", "LSF is down. Please wait ...\n", 255)
    assert LsfRunner().poll(["111"], Scripted(down)).error


def test_lsf_kill_documented_output_no_server_here() -> None:
    out = "Job <111> is being terminated\n"
    err = "Job <113>: Job has already finished\nJob <117>: No matching job found\n"
    outcomes = LsfRunner().kill(
        [KillTarget("111"), KillTarget("113"), KillTarget("117")], Scripted(result(out, err, 255))
    )
    assert [o.ok for o in outcomes] == [True, True, True]
    assert [o.detail for o in outcomes][1:] == ["already gone", "already gone"]


# ------------------------------------------- SGE (documented output, no server here)
SGE_QSTAT = """job-ID  prior  name  user  state submit/start at  queue  slots ja-task-ID
--------------------------------------------------------------------------------
  12345 0.25000 jobA  michael  r  07/17/2018 17:54:49 all.q@node01  1
  12346 0.25000 jobB  michael  Eqw  07/17/2018 17:54:49  1
  12347 0.25000 jobC  michael  qw  07/17/2018 13:52:12  1
  12348 0.25000 jobD  michael  dr  07/17/2018 13:52:20 all.q@node02  1
  12349 0.25000 jobE  michael  hRwq  07/17/2018 13:52:20  1
"""


def test_sge_submit_poll_kill_documented_output_no_server_here() -> None:
    run = Scripted(result('Your job 12345 ("jobA") has been submitted\n'))
    assert SgeRunner().submit([JOB], run)[0].runner_id == "12345"
    ids = ["12345", "12346", "12347", "12348", "12349", "12350"]
    answer = SgeRunner().poll(ids, Scripted(result(SGE_QSTAT)))
    assert [answer.jobs[i].state for i in ids] == [R, P, P, R, P, G]
    assert answer.jobs["12346"].reason == "Eqw"
    assert SgeRunner().poll(ids, Scripted(result("", "error: commlib error", 1))).error
    qdel = result(
        "michael has registered the job 12345 for deletion\n",
        'denied: job "12350" does not exist\n',
        1,
    )
    outcomes = SgeRunner().kill([KillTarget("12345"), KillTarget("12350")], Scripted(qdel))
    assert [o.ok for o in outcomes] == [True, True]


def test_sge_directives_documented_output_no_server_here() -> None:
    lines = SgeRunner().header_lines(Directives(7200, 4, None, 512, "all.q", None, HOSTILE), "/d")
    assert lines[:3] == ["#$ -S /bin/bash", "#$ -o /d/job.out", "#$ -e /d/job.err"]
    assert "#$ -l h_rt=2:00:00" in lines and "#$ -pe smp 4" in lines
    assert "#$ -l h_vmem=512M" in lines
    assert all("\n" not in line and "$(" not in line for line in lines)


def test_empty_requests_run_nothing() -> None:
    for runner in (SlurmRunner(), PbsRunner(), LsfRunner(), SgeRunner(), AtRunner()):
        run = Scripted()
        assert runner.poll([], run) == PollAnswer()
        assert runner.kill([], run) == []
        assert run.calls == []
