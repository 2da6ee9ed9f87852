"""The agent's verbs: submit, poll and kill over many job dirs in one call.

Each verb yields exactly one ``JobReply`` per job asked about, in request
order, even when it fails on that job. The status file is read first; the
runner is asked only about jobs the file cannot settle, once per runner.

Host-side: standard library only, Python 3.8+.
"""

from __future__ import annotations

import os
import time

from ..records import dataclass, fields, replace
from ..runners.base import (
    Directives,
    KillTarget,
    Runner,
    RunnerJobInfo,
    RunnerOptions,
    RunnerState,
    SubmitOutcome,
    SubmitRequest,
)
from ..runners.directives import from_wire
from ..runners.execute import run_command
from ..runners.registry import RunnerLoadError, make_runner, runner_class
from ..status import keys
from ..status.facts import StatusFacts, facts_dict
from ..status.reader import append_lines, read_status_file
from .jobdirs import JobDirError, SubmitLock, resolve_job_dir, submit_in_progress
from .protocol import JobReply, JobRequest, Request

TYPE_CHECKING = False  # importing typing costs the agent 4 ms of start: names for mypy only
if TYPE_CHECKING:
    from typing import Any, Dict, Iterator, List, Mapping, Optional, Tuple, Union

SUBMIT_CHUNK = 200  # jobs whose submit locks are held at once


def utc_now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


@dataclass
class Slot:
    """One job of the request while the verb works on it."""

    req: JobRequest
    path: str = ""
    error: Optional[str] = None
    facts: Optional[StatusFacts] = None
    reply: Optional[JobReply] = None
    stamp: str = ""  # the status file's stamp, taken just before the last read
    unchanged: bool = False  # poll: facts come from the request, the file was not read

    def status_path(self) -> str:
        return os.path.join(self.path, keys.STATUS_FILE)

    def read(self) -> StatusFacts:
        # Stamp first: a line appended between the two makes the stamp older
        # than what was read, so the next poll reads again (never the reverse).
        self.stamp = file_stamp(self.status_path())
        self.facts = read_status_file(self.status_path())
        self.unchanged = False
        return self.facts

    def read_unless_seen(self) -> StatusFacts:
        """Poll: the facts the controller already holds while the file keeps its stamp."""
        req = self.req
        if req.seen and req.runner and req.runner_id:
            stamp = file_stamp(self.status_path())
            if stamp == req.seen:
                self.stamp = stamp
                self.unchanged = True
                self.facts = StatusFacts(
                    exists=True, runner_name=req.runner, runner_id=req.runner_id
                )
                return self.facts
        return self.read()


def file_stamp(path: str) -> str:
    """Identity of a status file's content: inode, size, modification time ("" if none).

    The file is only ever appended to, so an equal stamp means equal content.
    """
    try:
        st = os.stat(path)
    except OSError:
        return ""
    return f"{st.st_ino}:{st.st_size}:{st.st_mtime_ns}"


class Agent:
    def __init__(self, request: Request, root: str) -> None:
        self.request = request
        self.root = root
        self.options = runner_options(request.runner_options)
        self._runners: Dict[str, Runner] = {}

    def runner(self, name: str) -> Runner:
        if name not in self._runners:
            self._runners[name] = make_runner(name, self.options)
        return self._runners[name]

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

    def run(self) -> Iterator[JobReply]:
        slots = [Slot(job) for job in self.request.jobs]
        parents: Dict[str, str] = {}
        for slot in slots:
            try:
                slot.path = resolve_job_dir(self.root, slot.req.dir, parents)
            except JobDirError as exc:
                slot.error = str(exc)
        verb = self.request.verb
        if verb == "submit":
            yield from self.submit(slots)
        elif verb == "poll":
            yield from self.poll(slots)
        else:
            yield from self.kill(slots)

    def fail(self, slot: Slot, error: str) -> JobReply:
        return JobReply(
            job=slot.req.job,
            dir=slot.req.dir,
            verb=self.request.verb,
            error=error,
            status=facts_dict(slot.facts) if slot.facts else None,
        )

    # -- submit ----------------------------------------------------------
    def submit(self, slots: List[Slot]) -> Iterator[JobReply]:
        # Each job's lock is held from before its files are written until its
        # runner id is recorded. Chunks bound the open lock files.
        for start in range(0, len(slots), SUBMIT_CHUNK):
            yield from self.submit_chunk(slots[start : start + SUBMIT_CHUNK])

    def submit_chunk(self, slots: List[Slot]) -> Iterator[JobReply]:
        replies: Dict[int, JobReply] = {}
        ready: Dict[str, List[Tuple[Slot, SubmitLock, SubmitRequest]]] = {}
        for slot in slots:
            try:
                prepared = self.prepare(slot)
            except RunnerLoadError as exc:
                replies[id(slot)] = self.fail(slot, str(exc))
                continue
            if isinstance(prepared, JobReply):
                replies[id(slot)] = prepared
            else:
                ready.setdefault(slot.req.runner, []).append((slot, *prepared))
        for name, group in ready.items():
            # One call per runner: the background runner starts the whole
            # group from one launcher, batch schedulers overlap their commands.
            outcomes = self.runner(name).submit([item[2] for item in group], run_command)
            for (slot, lock, _), outcome in zip(group, outcomes):  # noqa: B905 (3.8)
                try:
                    replies[id(slot)] = self.record_submit(slot, outcome)
                except OSError as exc:
                    replies[id(slot)] = self.fail(slot, f"submit: {type(exc).__name__}: {exc}")
                finally:
                    lock.release()
        for slot in slots:
            yield replies[id(slot)]

    def prepare(self, slot: Slot) -> Union[JobReply, Tuple[SubmitLock, SubmitRequest]]:
        """Lock the job dir and write the job; or the reply that ends this job here."""
        from ..jobscript.assemble import JobSpec, assemble, write_job_files

        if slot.error:
            return self.fail(slot, slot.error)
        req = slot.req
        runner = self.runner(req.runner)
        lock = SubmitLock(slot.path)
        try:
            os.makedirs(slot.path, mode=0o700, exist_ok=True)
            if not lock.acquire():
                return self.fail(slot, "another agent is submitting this job right now")
            facts = slot.read()
            if facts.runner_id:
                # Submitted before (e.g. the controller died before it heard): never twice.
                lock.release()
                return JobReply(
                    job=req.job,
                    dir=req.dir,
                    verb="submit",
                    runner_id=facts.runner_id,
                    resubmit_refused=True,
                    status=facts_dict(facts),
                )
            header = runner.header_lines(directives(req.directives), slot.path)
            spec = JobSpec(
                job_ref=req.job, name=req.name, job_dir=slot.path, runner_header=header, env=req.env
            )
            job_text = assemble(spec)
            write_job_files(slot.path, job_text, req.script)
            submitted = utc_now()
            append_lines(
                slot.status_path(),
                [
                    (keys.VERSION, keys.FORMAT_VERSION),
                    (keys.RUNNER_NAME, runner.name),
                    (keys.SUBMIT_TIME, submitted),
                ],
            )
            slot.facts = StatusFacts(exists=True, runner_name=runner.name, submit_time=submitted)
        except (OSError, ValueError, TypeError) as exc:
            lock.release()
            return self.fail(slot, f"submit: {type(exc).__name__}: {exc}")
        job_file = os.path.join(slot.path, keys.JOB_FILE)
        return lock, SubmitRequest(slot.path, job_file, job_text)

    def record_submit(self, slot: Slot, outcome: SubmitOutcome) -> JobReply:
        if outcome.runner_id is None:
            return self.fail(slot, outcome.error or "runner gave no job id")
        append_lines(slot.status_path(), [(keys.RUNNER_ID, outcome.runner_id)])
        # The reply tells of the submission itself, not of what the job did
        # since (a fast job may have ended already): polls report progress.
        facts = replace(slot.facts or StatusFacts(), runner_id=outcome.runner_id)
        return JobReply(
            job=slot.req.job,
            dir=slot.req.dir,
            verb="submit",
            runner_id=outcome.runner_id,
            status=facts_dict(facts),
        )

    # -- poll ------------------------------------------------------------
    def poll(self, slots: List[Slot]) -> Iterator[JobReply]:
        asks: Dict[str, List[Slot]] = {}
        for slot in slots:
            if slot.error:
                continue
            facts = slot.read_unless_seen()
            if facts.finished and not self.may_requeue(facts):
                continue
            if not facts.runner_id or not facts.runner_name:
                continue  # never reached a runner (or still on its way): nothing to ask
            asks.setdefault(facts.runner_name, []).append(slot)
        answers: Dict[int, Tuple[Optional[Dict[str, Any]], Optional[str]]] = {}
        for name, group in asks.items():
            for slot, info, err in self.ask_runner(name, group):
                answers[id(slot)] = (info, err)
        for slot in slots:
            if slot.error:
                yield self.fail(slot, slot.error)
                continue
            info, err = answers.get(id(slot), (None, None))
            facts = slot.facts or StatusFacts()
            yield JobReply(
                job=slot.req.job,
                dir=slot.req.dir,
                verb="poll",
                status=None if slot.unchanged else facts_dict(facts),
                runner=info,
                runner_error=err,
                runner_id=facts.runner_id,
                in_progress=not facts.runner_id and submit_in_progress(slot.path),
                stamp=slot.stamp or None,
                unchanged=slot.unchanged,
            )

    def ask_runner(
        self, name: str, group: List[Slot]
    ) -> Iterator[Tuple[Slot, Optional[Dict[str, Any]], Optional[str]]]:
        try:
            runner = self.runner(name)
        except RunnerLoadError as exc:
            for slot in group:
                yield slot, None, str(exc)
            return
        ids = [slot.facts.runner_id for slot in group if slot.facts and slot.facts.runner_id]
        answer = runner.poll(ids, run_command)
        for slot in group:
            assert slot.facts is not None and slot.facts.runner_id is not None
            if answer.error:
                yield slot, None, answer.error
                continue
            info = answer.jobs.get(slot.facts.runner_id)
            if info is None or info.state.ended:
                # Second look: the job may have written its exit (or a requeued
                # run its new start and exit) between our read of the file and
                # the runner's answer. Without it, a job that just ended well
                # would be judged by the runner alone, and a stale signal exit
                # taken for the last run's.
                facts = slot.read()
                forgot = info is None or info.state == RunnerState.GONE
                if forgot and not facts.finished and not facts.runner_forgot:
                    append_lines(slot.status_path(), [(keys.RUNNER_FORGOT, utc_now())])
                    slot.read()
                gone = {"runner_id": slot.facts.runner_id, "state": RunnerState.GONE.value}
                yield slot, (info_dict(info) if info else gone), None
            else:
                yield slot, info_dict(info), None

    # -- kill ------------------------------------------------------------
    def kill(self, slots: List[Slot]) -> Iterator[JobReply]:
        asks: Dict[str, List[Slot]] = {}
        for slot in slots:
            if slot.error:
                continue
            facts = slot.read()
            if facts.finished and not self.may_requeue(facts):
                slot.reply = self.kill_reply(slot, "already finished")
            elif not facts.runner_id or not facts.runner_name:
                slot.error = "not submitted (no runner id in job.status): nothing to kill"
            else:
                asks.setdefault(facts.runner_name, []).append(slot)
        for name, group in asks.items():
            self.kill_group(name, group)
        for slot in slots:
            if slot.reply is not None:
                yield slot.reply
            else:
                yield self.fail(slot, slot.error or "kill: no outcome")

    def kill_group(self, name: str, group: List[Slot]) -> None:
        try:
            runner = self.runner(name)
        except RunnerLoadError as exc:
            for slot in group:
                slot.error = str(exc)
            return
        targets = []
        for slot in group:
            assert slot.facts is not None and slot.facts.runner_id is not None
            targets.append(KillTarget(slot.facts.runner_id, slot.facts.pid, slot.path))
        outcomes = runner.kill(targets, run_command)  # one per target, in order
        for slot, outcome in zip(group, outcomes):  # noqa: B905 (strict= is 3.10+)
            if not outcome.ok:
                slot.error = f"kill failed: {outcome.detail}"
                continue
            facts = slot.read()
            if runner.kill_verifies_gone and not facts.finished:
                # The wrapper died before it could record (e.g. SIGKILL after the
                # grace period): record the exit once, saying who wrote it.
                append_lines(
                    slot.status_path(),
                    [
                        (keys.EXIT, "failed"),
                        (keys.EXIT_SIGNAL, "KILL"),
                        (keys.EXIT_CODE, "137"),
                        (keys.EXIT_TIME, utc_now()),
                        (keys.EXIT_BY, "agent"),
                    ],
                )
                slot.read()
            slot.reply = self.kill_reply(slot, outcome.detail or "killed")

    def kill_reply(self, slot: Slot, detail: str) -> JobReply:
        facts = slot.facts or StatusFacts()
        return JobReply(
            job=slot.req.job,
            dir=slot.req.dir,
            verb="kill",
            status=facts_dict(facts),
            runner_id=facts.runner_id,
            kill_detail=detail,
        )


def runner_options(raw: Mapping[str, Any]) -> RunnerOptions:
    known = {f.name for f in fields(RunnerOptions)}
    values = {k: v for k, v in raw.items() if k in known}
    if "command_prefix" in values:
        values["command_prefix"] = tuple(values["command_prefix"])
    return RunnerOptions(**values)


def directives(raw: Mapping[str, Any]) -> Directives:
    """A submit request's directives, checked by the one schema (the controller
    checked them before sending; an older or foreign one may not have)."""
    return from_wire(raw)


def info_dict(info: RunnerJobInfo) -> Dict[str, Any]:
    """The wire form of a runner's answer: empty fields left out."""
    out: Dict[str, Any] = {"runner_id": info.runner_id, "state": info.state.value}
    if info.exit_code is not None:
        out["exit_code"] = info.exit_code
    if info.signal:
        out["signal"] = info.signal
    if info.reason:
        out["reason"] = info.reason
    return out
