"""OAR (https://oar.imag.fr) as a jobrelay runner plugin: ``oarsub -S``, ``oarstat -s``, ``oardel``.

Written against OAR 2.5's user documentation and man pages: oarsub(1),
oarstat(1), oardel(1) (https://oar.imag.fr/docs/latest/user/commands/):

- ``oarsub -S SCRIPT`` scans the script for ``#OAR`` lines and prints
  ``OAR_JOB_ID=<id>`` (admission rules may print lines before it).
- Resources and walltime go in ONE ``-l`` (several ``-l`` make a moldable
  job): ``-l nodes=N/core=C,walltime=H:MM:SS``. ``-O``/``-E`` name the
  output and error files, ``-n`` the job, ``-q`` the queue, ``--project``
  the project. Memory is a site property, not a portable request.
- ``oarstat -s -j ID [-j ID ...]`` prints ``ID: State`` for each job it
  knows and nothing for an id it does not know.
- ``oardel ID ...`` prints ``Deleting the job = ID ...REGISTERED.`` for each
  job it will delete, or ``...ERROR.`` with ``Cannot frag ID ; This job was
  already killed.`` on stderr (exit 6).

Everything else (checking directive values, writing the directive lines,
timeouts, per-job outcomes) is jobrelay's ``BatchRunner``.
"""

from __future__ import annotations

import re
from typing import ClassVar, Dict, List, Mapping, Sequence

from jobrelay.processes import CommandResult
from jobrelay.runners.base import (
    BatchRunner,
    Directives,
    KillOutcome,
    PollAnswer,
    RunnerJobInfo,
    RunnerState,
    check_id,
    nodes_with_cpus,
    one_option,
)

P, R, D = RunnerState.PENDING, RunnerState.RUNNING, RunnerState.DONE

STATES: Mapping[str, RunnerState] = {
    "Waiting": P,
    "Hold": P,
    "toLaunch": P,
    "Launching": P,
    "toAckReservation": P,
    "Running": R,
    "Suspended": R,
    "Resuming": R,
    "Finishing": R,
    "Terminated": D,
    "Error": D,
    "toError": D,
}
STATE_LINE = re.compile(r"^(\d+):\s*(\S+)\s*$", re.M)


class OarRunner(BatchRunner):
    name = "oar"
    directive_prefix = "#OAR"
    submit_argv = ("oarsub", "-S")
    submit_id_pattern = re.compile(r"^OAR_JOB_ID=(?P<id>\d+)\s*$", re.M)
    directive_formats: ClassVar[Mapping[str, str]] = {
        "queue": "-q {}",
        "account": "--project {}",
        "job_name": "-n {}",
    }
    output_directives = ("-O {dir}/job.out", "-E {dir}/job.err")
    unsupported_directives: ClassVar[Mapping[str, str]] = {
        "memory_mb": "OAR has no portable memory request; use a raw '#OAR -p' line",
    }

    def resource_directives(self, d: Directives) -> List[str]:
        parts = nodes_with_cpus(d, "core", "/")  # one -l: several make a moldable job
        if d.time_limit is not None:
            parts.append(f"walltime={self.format_value('time_limit', d.time_limit)}")
        return one_option("-l", parts)

    def poll_command(self, ids: Sequence[str]) -> List[str]:
        argv = [*self.options.command_prefix, "oarstat", "-s"]
        for runner_id in ids:
            argv += ["-j", check_id(runner_id)]
        return argv

    def parse_poll(self, result: CommandResult, ids: Sequence[str]) -> PollAnswer:
        if not result.ok:
            return PollAnswer(error=result.describe())
        found = dict(STATE_LINE.findall(result.stdout))
        jobs: Dict[str, RunnerJobInfo] = {}
        for runner_id in ids:
            state = found.get(runner_id)
            if state is None:
                jobs[runner_id] = RunnerJobInfo(runner_id, RunnerState.GONE)
            else:
                jobs[runner_id] = RunnerJobInfo(runner_id, STATES.get(state, P), reason=state)
        return PollAnswer(jobs)

    def kill_command(self, ids: Sequence[str]) -> List[str]:
        return [*self.options.command_prefix, "oardel", *(check_id(i) for i in ids)]

    def parse_kill(self, ids: Sequence[str], result: CommandResult) -> List[KillOutcome]:
        text = result.stdout + "\n" + result.stderr
        outcomes = []
        for runner_id in ids:
            job = re.escape(runner_id)
            if re.search(rf"job = {job} \.\.\.REGISTERED", text):
                outcomes.append(KillOutcome(runner_id, True, "cancelled"))
            elif re.search(rf"Cannot frag {job} ; This job was already killed", text):
                outcomes.append(KillOutcome(runner_id, True, "already gone"))
            else:
                outcomes.append(KillOutcome(runner_id, False, result.describe()))
        return outcomes
