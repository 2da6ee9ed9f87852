"""The engine: one verb over many jobs on one ``JobHost``; poll is here,
submit and kill in their own modules.

Each verb yields exactly one ``JobReply`` per job asked about, in request
order, even when it fails on that job. The status file is read first; the
runner is asked only about jobs the file cannot settle, once per runner. A
job dir whose status file names another submission (``JOB_IDENTITY``) is
never taken for the job asked about.

Host-side: standard library only, Python 3.8+.
"""

from __future__ import annotations

import time

from ..host_dataclasses import fields, replace
from ..runners.base import (
    PollAnswer,
    Runner,
    RunnerJobInfo,
    RunnerOptions,
    RunnerState,
)
from ..runners.registry import RunnerLoadError, make_runner, runner_class
from ..status import keys
from ..status.facts import StatusFacts
from .jobhost import HostTrouble, JobHost, Slot, failed, not_ready
from .protocol import JobReply, JobRequest, RunnerGrant, RunnerQuery, dir_named_for

TYPE_CHECKING = False  # importing typing costs the agent 4 ms of start: names for mypy only
if TYPE_CHECKING:
    from typing import Any, Dict, Iterator, List, Mapping, Optional, Sequence, Set, Tuple

SUBMIT_CHUNK = 200  # jobs whose submit locks are held at once
NOT_GRANTED = (
    "runner not asked: the polling budget of its endpoint is spent for now "
    "(the job's state is from its status file; the runner is asked again later)"
)


def utc_now() -> str:
    """Wall-clock time as the status file writes it (ISO 8601 UTC, Z)."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


class Engine:
    """One verb over many jobs on one ``JobHost``."""

    def __init__(
        self,
        host: JobHost,
        verb: str,
        options: RunnerOptions,
        grant: Optional[RunnerGrant] = None,
    ) -> None:
        self.host = host
        self.verb = verb
        self.options = host.runner_options(options)
        self._runners: Dict[str, Runner] = {}
        self.grant = grant  # poll: what the polling budget allows (None: ask freely)
        self.query: Optional[RunnerQuery] = None  # poll: the runner query made under a grant

    @staticmethod
    def now() -> str:
        return utc_now()

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
            from .submit import submit

            for start in range(0, len(slots), SUBMIT_CHUNK):
                chunk = slots[start : start + SUBMIT_CHUNK]
                try:
                    submit(self, chunk)
                except HostTrouble as exc:
                    if start == 0:
                        raise  # nothing done yet: the controller may try another host
                    for slot in not_ready(chunk):
                        slot.error = exc.reason
        elif self.verb == "poll":
            self.poll(slots)
        else:
            from .kill import kill

            kill(self, slots)
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

    def foreign(self, slot: Slot) -> bool:
        """The job dir holds another submission's status file: that is the slot's
        error, and nothing of the file is reported as this job's."""
        facts, mine = slot.facts, slot.req.identity
        if facts is None or not facts.exists or not mine or facts.identity == mine:
            return False
        if facts.identity is None and not (facts.runner_id or facts.started):
            return False  # written before identities, and by no submission yet
        if facts.identity is None and dir_named_for(slot.req.dir, mine):
            # the layout made this dir for this submission alone: its identity
            # line was lost (a file cut or emptied in place), the rest is ours
            lost = "no JOB_IDENTITY line (the file was cut or emptied?): read as this job's"
            slot.facts = replace(facts, problems=(*facts.problems, lost))
            return False
        other = (
            f"submission {facts.identity}" if facts.identity else "a submission with no identity"
        )
        slot.error = (
            f"job dir {slot.req.dir} on {self.host.name} holds {other}, not this job's "
            f"({mine}): not {self.verb}ed. It belongs to another jobrelay ledger; use another "
            "--run, or remove that dir once its jobs are done (jobrelay tidy from its ledger)"
        )
        slot.facts = None
        return True

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

    # -- poll ------------------------------------------------------------
    def poll(self, slots: List[Slot]) -> None:
        self.read(not_ready(slots), use_seen=True)
        for slot in not_ready(slots):
            if self.foreign(slot):
                continue
            facts = slot.facts
            if facts is not None and not facts.runner_id and slot.req.runner_id:
                # no status file (the job dir vanished?) or one that lost its
                # runner id (cut, emptied): the runner, asked by the id the
                # controller holds, tells whether the job lives on
                slot.facts = replace(
                    facts,
                    runner_id=slot.req.runner_id,
                    runner_name=facts.runner_name or slot.req.runner or None,
                )
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
        groups = self.runner_groups(asks)
        if self.grant is not None and self.grant.ask and self.grant.extra:
            groups.setdefault(self.grant.runner, [])  # others wait for this query's answer
        for name, group in groups.items():
            found, failed = self.ask_runner(name, [self.runner_id(s) for s in group])
            for slot in group:
                rid = self.runner_id(slot)
                if rid in failed:
                    errors[id(slot)] = failed[rid]
                else:
                    answers[id(slot)] = found.get(rid) or RunnerJobInfo(rid, RunnerState.GONE)
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

    def ask_runner(
        self, name: str, ids: List[str]
    ) -> Tuple[Mapping[str, RunnerJobInfo], Dict[str, str]]:
        """The runner's answers about ``ids`` and the ids it could not answer
        (with why), within the grant: covered ids from the shared answer, the
        rest by one query when the grant allows it."""
        grant = self.grant
        if grant is None:
            free = self.runner(name).poll(ids, self.host.run)
            return free.jobs, {i: free.error for i in ids} if free.error else {}
        covered = set(grant.covers)
        found: Dict[str, RunnerJobInfo] = {}
        for rid in ids:
            if rid in covered:
                found[rid] = grant.jobs.get(rid) or RunnerJobInfo(rid, RunnerState.GONE)
        rest = [rid for rid in ids if rid not in covered]
        if not grant.ask or self.query is not None:  # one query per grant
            return found, {rid: NOT_GRANTED for rid in rest}
        wanted = set(rest)
        query = rest + [rid for rid in grant.extra if rid not in wanted]
        if not query:
            return found, {}
        answer: PollAnswer = self.runner(name).poll(query, self.host.run)
        self.query = RunnerQuery(ids=query, jobs=dict(answer.jobs), error=answer.error)
        if answer.error:
            return found, {rid: answer.error for rid in rest}
        found.update((rid, answer.jobs[rid]) for rid in rest if rid in answer.jobs)
        return found, {}

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


def runner_options(raw: Mapping[str, Any]) -> RunnerOptions:
    """The request's runner options (unknown names ignored: a newer controller)."""
    known = {f.name for f in fields(RunnerOptions)}
    values = {k: v for k, v in raw.items() if k in known}
    if "command_prefix" in values:
        values["command_prefix"] = tuple(values["command_prefix"])
    return RunnerOptions(**values)
