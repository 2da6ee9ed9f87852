"""Submit, poll and kill, once for every kind of ``JobHost``.

Each verb yields exactly one ``JobReply`` per job asked about, in request
order, even when it fails on that job. The status file is read first; the
runner is asked only about jobs the file cannot settle, once per runner.

Host-side: standard library only, Python 3.8+.
"""

from __future__ import annotations

import time

from ..host_dataclasses import fields, replace
from ..runners.base import (
    Directives,
    KillTarget,
    Runner,
    RunnerJobInfo,
    RunnerOptions,
    RunnerState,
    SubmitRequest,
)
from ..runners.directives import from_wire
from ..runners.registry import RunnerLoadError, make_runner, runner_class
from ..status import keys
from ..status.facts import StatusFacts
from .jobhost import HostTrouble, JobFiles, JobHost, Slot, failed, not_ready
from .protocol import JobReply, JobRequest

TYPE_CHECKING = False  # importing typing costs the agent 4 ms of start: names for mypy only
if TYPE_CHECKING:
    from typing import Any, Dict, Iterator, List, Mapping, Sequence, Set

SUBMIT_CHUNK = 200  # jobs whose submit locks are held at once
NOT_SUBMITTED = "not submitted (no runner id in job.status): nothing to kill"


def utc_now() -> str:
    """Wall-clock time as the status file writes it (ISO 8601 UTC, Z)."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


class Engine:
    """One verb over many jobs on one ``JobHost``."""

    def __init__(self, host: JobHost, verb: str, options: RunnerOptions) -> None:
        self.host = host
        self.verb = verb
        self.options = host.runner_options(options)
        self._runners: Dict[str, Runner] = {}

    def runner(self, name: str) -> Runner:
        if name not in self._runners:
            self._runners[name] = make_runner(name, self.options)
        return self._runners[name]

    def run(self, jobs: Sequence[JobRequest]) -> Iterator[JobReply]:
        """The replies, in request order. Raises ``HostTrouble`` (unreachable)
        before anything was done when the host cannot be reached at all."""
        slots = [Slot(job) for job in jobs]
        self.host.place(slots)
        if self.verb == "submit":
            for start in range(0, len(slots), SUBMIT_CHUNK):
                chunk = slots[start : start + SUBMIT_CHUNK]
                try:
                    self.submit(chunk)
                except HostTrouble as exc:
                    if start == 0:
                        raise  # nothing done yet: the controller may try another host
                    for slot in not_ready(chunk):
                        slot.error = exc.reason
        elif self.verb == "poll":
            self.poll(slots)
        else:
            self.kill(slots)
        for slot in slots:
            yield slot.reply if slot.reply is not None else self.failed(slot)

    def failed(self, slot: Slot) -> JobReply:
        return failed(slot, self.verb, slot.error or f"{self.verb}: no outcome")

    def reply(self, slot: Slot, **values: Any) -> JobReply:
        return JobReply(job=slot.req.job, dir=slot.req.dir, verb=self.verb, **values)

    def read(
        self, slots: Sequence[Slot], use_seen: bool = False, before_submit: bool = False
    ) -> None:
        """Read the slots' status files; trouble that is not unreachability
        becomes each job's error."""
        try:
            if before_submit:
                self.host.read_before_submit(slots)
            else:
                self.host.read_status(slots, use_seen)
        except HostTrouble as exc:
            if exc.unreachable:
                raise
            for slot in slots:
                slot.error = exc.reason

    def may_requeue(self, facts: StatusFacts) -> bool:
        """An exit by a signal the runner also uses to preempt: the runner may run
        the job again (Slurm requeue), so the runner is still asked about it."""
        if not facts.exit_signal or facts.exit_by == "agent" or not facts.runner_name:
            return False
        try:
            signals = runner_class(facts.runner_name).preemption_signals
        except RunnerLoadError:
            return False
        return facts.exit_signal in signals

    def settled(self, facts: StatusFacts) -> bool:
        """The file alone says how the job ended."""
        return facts.finished and not self.may_requeue(facts)

    def runner_groups(self, slots: Sequence[Slot]) -> Dict[str, List[Slot]]:
        """Slots by the runner that holds them (a runner that cannot load: their error)."""
        groups: Dict[str, List[Slot]] = {}
        for slot in slots:
            name = (slot.facts.runner_name if slot.facts else None) or slot.req.runner
            try:
                self.runner(name)
            except RunnerLoadError as exc:
                slot.error = str(exc)
                continue
            groups.setdefault(name, []).append(slot)
        return groups

    # -- submit ----------------------------------------------------------
    def submit(self, slots: List[Slot]) -> None:
        # Each job's lock is held from before its files are written until its
        # runner id is recorded; chunks bound the locks held at once.
        held: List[Slot] = []
        try:
            for slot in not_ready(slots):
                try:
                    self.runner(slot.req.runner)
                    if self.host.lock(slot):
                        held.append(slot)
                    else:
                        slot.error = "another agent is submitting this job right now"
                except RunnerLoadError as exc:
                    slot.error = str(exc)
                except OSError as exc:
                    slot.error = f"submit: cannot make the job dir: {exc.strerror or exc}"
            self.read(held, before_submit=True)
            for slot in not_ready(held):
                facts = slot.facts or StatusFacts()
                if facts.runner_id or facts.started:
                    # Submitted before (e.g. the controller died before it heard): never twice.
                    slot.reply = self.reply(
                        slot, runner_id=facts.runner_id, resubmit_refused=True, status=facts
                    )
            files = [(slot, self.job_files(slot)) for slot in not_ready(held)]
            self.host.write_jobs([(slot, jf) for slot, jf in files if slot.error is None])
            for name, group in self.runner_groups(not_ready(held)).items():
                self.start(self.runner(name), group)
        finally:
            for slot in held:
                self.host.unlock(slot)

    def job_files(self, slot: Slot) -> JobFiles:
        from ..jobscript.assemble import JobSpec, assemble

        req = slot.req
        runner = self.runner(req.runner)
        submitted = utc_now()
        try:
            header = runner.header_lines(directives(req.directives), slot.path)
            text = assemble(
                JobSpec(
                    job_ref=req.job,
                    name=req.name,
                    job_dir=slot.path,
                    runner_header=header,
                    env=req.env,
                )
            )
        except (ValueError, TypeError) as exc:
            slot.error = f"submit: {exc}"
            return JobFiles("", "")
        slot.job_text = text
        slot.facts = StatusFacts(exists=True, runner_name=runner.name, submit_time=submitted)
        lines = (
            (keys.VERSION, keys.FORMAT_VERSION),
            (keys.RUNNER_NAME, runner.name),
            (keys.SUBMIT_TIME, submitted),
        )
        return JobFiles(text, req.script, lines)

    def start(self, runner: Runner, group: List[Slot]) -> None:
        """Hand the group to its runner (one call: the background runner starts
        all from one launcher, batch schedulers overlap their commands)."""
        requests = [SubmitRequest(s.path, s.job_file, s.job_text) for s in group]
        for slot, outcome in zip(group, runner.submit(requests, self.host.run)):  # noqa: B905
            if outcome.runner_id is None:
                slot.error = outcome.error or "runner gave no job id"
                continue
            slot.facts = replace(slot.facts or StatusFacts(), runner_id=outcome.runner_id)
            try:
                self.host.append_status(slot, [(keys.RUNNER_ID, outcome.runner_id)])
                error = None
            except OSError as exc:
                # The runner has the job: say so, with the trouble, never "not submitted".
                error = f"the runner took the job but job.status could not record it: {exc}"
            # The reply tells of the submission itself, not of what the job did
            # since (a fast job may have ended already): polls report progress.
            slot.reply = self.reply(
                slot, runner_id=outcome.runner_id, status=slot.facts, error=error
            )

    # -- poll ------------------------------------------------------------
    def poll(self, slots: List[Slot]) -> None:
        self.read(not_ready(slots), use_seen=True)
        asks = [
            s
            for s in not_ready(slots)
            if s.facts
            and s.facts.runner_id
            and (s.facts.runner_name or s.req.runner)  # else it never reached a runner
            and not self.settled(s.facts)
        ]
        answers: Dict[int, RunnerJobInfo] = {}
        errors: Dict[int, str] = {}
        for name, group in self.runner_groups(asks).items():
            answer = self.runner(name).poll([self.runner_id(s) for s in group], self.host.run)
            for slot in group:
                if answer.error:
                    errors[id(slot)] = answer.error
                else:
                    answers[id(slot)] = answer.jobs.get(self.runner_id(slot)) or RunnerJobInfo(
                        self.runner_id(slot), RunnerState.GONE
                    )
        ended = [s for s in asks if id(s) in answers and answers[id(s)].state.ended]
        forgot = {id(s) for s in ended if answers[id(s)].state is RunnerState.GONE}
        self.second_look(ended, forgot)
        for slot in not_ready(slots):
            facts = slot.facts or StatusFacts()
            slot.reply = self.reply(
                slot,
                status=None if slot.unchanged else facts,
                runner=answers.get(id(slot)),
                runner_error=errors.get(id(slot)),
                runner_id=facts.runner_id,
                in_progress=not facts.runner_id and self.host.submit_in_progress(slot),
                stamp=slot.stamp or None,
                unchanged=slot.unchanged,
            )

    def runner_id(self, slot: Slot) -> str:
        assert slot.facts is not None and slot.facts.runner_id is not None
        return slot.facts.runner_id

    def second_look(self, ended: List[Slot], forgot: Set[int]) -> None:
        """Read again the files of jobs the runner says ended or forgot.

        The job may have written its exit (or a requeued run its new start and
        exit) between the first read and the runner's answer. Without it, a
        job that just ended well would be judged by the runner alone, and a
        stale signal exit taken for the last run's. If this read fails, the
        first look stands.
        """
        if not ended or not self.look_again(ended):
            return
        now = utc_now()
        for slot in ended:
            facts = slot.facts
            if id(slot) not in forgot or facts is None or facts.finished or facts.runner_forgot:
                continue
            try:
                self.host.append_status(slot, [(keys.RUNNER_FORGOT, now)])
            except OSError:
                continue  # a note for people reading the file; the ledger counts the looks
            slot.facts = replace(facts, runner_forgot=now)

    def look_again(self, slots: List[Slot]) -> bool:
        """Read the slots' files again; False (and the first read kept) when that fails."""
        first = [(s.facts, s.stamp, s.unchanged, s.error) for s in slots]
        try:
            self.host.read_status(slots)
        except HostTrouble:
            for slot, (facts, stamp, unchanged, error) in zip(slots, first):  # noqa: B905
                slot.facts, slot.stamp, slot.unchanged, slot.error = facts, stamp, unchanged, error
            return False
        return True

    # -- kill ------------------------------------------------------------
    def kill(self, slots: List[Slot]) -> None:
        live = not_ready(slots)
        try:
            self.host.read_status(live)
        except HostTrouble:
            # The files are out of reach, perhaps not the runner: kill by the
            # ids the controller knows; the replies then carry no status.
            for slot in live:
                slot.error, slot.facts = None, None
        targets: List[Slot] = []
        for slot in not_ready(live):
            facts = slot.facts
            if facts is None and slot.req.runner_id:
                slot.facts = StatusFacts(runner_name=slot.req.runner, runner_id=slot.req.runner_id)
                targets.append(slot)
            elif facts is not None and self.settled(facts):
                slot.reply = self.kill_reply(slot, "already finished")
            elif facts is None or not facts.runner_id:
                slot.error = NOT_SUBMITTED
            else:
                targets.append(slot)
        for name, group in self.runner_groups(targets).items():
            self.kill_group(self.runner(name), group)

    def kill_group(self, runner: Runner, group: List[Slot]) -> None:
        targets = [
            KillTarget(self.runner_id(s), s.facts.pid if s.facts else None, s.path) for s in group
        ]
        outcomes = runner.kill(targets, self.host.run)  # one per target, in order
        pairs = list(zip(group, outcomes))  # noqa: B905 (strict= is 3.10+)
        # what the kill left in the files (not for jobs whose files are out of reach)
        self.look_again([s for s, o in pairs if o.ok and s.facts is not None and s.facts.exists])
        for slot, outcome in pairs:
            if not outcome.ok:
                slot.error = f"kill failed: {outcome.detail}"
                continue
            facts = slot.facts
            if runner.kill_verifies_gone and facts and facts.exists and not facts.finished:
                self.record_killed(slot, facts)
            slot.reply = self.kill_reply(slot, outcome.detail or "killed")

    def record_killed(self, slot: Slot, facts: StatusFacts) -> None:
        """The wrapper died before it could record (e.g. SIGKILL after the grace
        period): record the exit once, saying who wrote it."""
        now = utc_now()
        lines = [
            (keys.EXIT, "failed"),
            (keys.EXIT_SIGNAL, "KILL"),
            (keys.EXIT_CODE, "137"),
            (keys.EXIT_TIME, now),
            (keys.EXIT_BY, "agent"),
        ]
        try:
            self.host.append_status(slot, lines)
        except OSError as exc:
            slot.error = f"killed, but job.status could not record it: {exc}"
            return
        slot.facts = replace(
            facts, exit="failed", exit_signal="KILL", exit_code=137, exit_time=now, exit_by="agent"
        )

    def kill_reply(self, slot: Slot, detail: str) -> JobReply:
        facts = slot.facts
        status = facts if facts is not None and facts.exists else None
        return self.reply(
            slot,
            status=status,
            runner_id=facts.runner_id if facts else None,
            kill_detail=detail,
            error=slot.error,
        )


def runner_options(raw: Mapping[str, Any]) -> RunnerOptions:
    """The request's runner options (unknown names ignored: a newer controller)."""
    known = {f.name for f in fields(RunnerOptions)}
    values = {k: v for k, v in raw.items() if k in known}
    if "command_prefix" in values:
        values["command_prefix"] = tuple(values["command_prefix"])
    return RunnerOptions(**values)


def directives(raw: Mapping[str, Any]) -> Directives:
    """A submit request's directives, checked by the one schema (the controller
    checked them before sending; an older or foreign one may not have)."""
    return from_wire(raw)
