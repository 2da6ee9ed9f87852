"""Submit: write each job into its dir and hand it to its runner, never twice.

Host-side: standard library only, Python 3.8+.
"""

from __future__ import annotations

from ..host_dataclasses import replace
from ..runners.base import Directives, Runner, SubmitRequest
from ..runners.directives import from_wire
from ..runners.registry import RunnerLoadError
from ..status import keys
from ..status.facts import StatusFacts
from .jobhost import JobFiles, Slot, not_ready

TYPE_CHECKING = False  # importing typing costs the agent 4 ms of start: names for mypy only
if TYPE_CHECKING:
    from typing import Any, List, Mapping

    from .verbs import Engine


BUSY = "another agent is submitting this job right now"


def submit(engine: Engine, slots: List[Slot]) -> None:
    """Submit ``slots``. Each job's lock is held from before its files are
    written until its runner id is recorded."""
    host = engine.host
    held: List[Slot] = []
    try:
        for slot in not_ready(slots):
            try:
                engine.runner(slot.req.runner)
                if host.lock(slot):
                    held.append(slot)
                else:
                    # e.g. the agent of a controller killed mid-submit, still at
                    # work: the job may reach the runner, a poll will read it
                    slot.reply = engine.reply(slot, in_progress=True, error=BUSY)
            except RunnerLoadError as exc:
                slot.error = str(exc)
            except OSError as exc:
                slot.error = f"submit: cannot make the job dir: {exc.strerror or exc}"
        engine.read(held, before_submit=True)
        for slot in not_ready(held):
            refuse_if_submitted(engine, slot)
        files = [(slot, job_files(engine, slot)) for slot in not_ready(held)]
        host.write_jobs([(slot, jf) for slot, jf in files if slot.error is None])
        for name, group in engine.runner_groups(not_ready(held)).items():
            start(engine, engine.runner(name), group)
    finally:
        for slot in held:
            host.unlock(slot)


def refuse_if_submitted(engine: Engine, slot: Slot) -> None:
    """Never submit twice, and never reuse a dir that holds another submission."""
    facts = slot.facts or StatusFacts()
    if not facts.exists:
        return
    if engine.foreign(slot):
        return  # its error says whose dir it is
    if facts.runner_id or facts.started:
        # This very submission reached the runner before (e.g. the controller
        # died before it heard): reply with what it did.
        slot.reply = engine.reply(
            slot, runner_id=facts.runner_id, resubmit_refused=True, status=facts
        )


def job_files(engine: Engine, slot: Slot) -> JobFiles:
    from ..jobscript.assemble import JobSpec, assemble

    req = slot.req
    runner = engine.runner(req.runner)
    submitted = engine.now()
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
    slot.facts = StatusFacts(
        exists=True, identity=req.identity or None, runner_name=runner.name, submit_time=submitted
    )
    lines = [(keys.VERSION, keys.FORMAT_VERSION)]
    if req.identity:
        lines.append((keys.IDENTITY, req.identity))
    lines += [(keys.RUNNER_NAME, runner.name), (keys.SUBMIT_TIME, submitted)]
    return JobFiles(text, req.script, tuple(lines))


def start(engine: Engine, runner: Runner, group: List[Slot]) -> None:
    """Hand the group to its runner (one call: the background runner starts
    all from one launcher, batch schedulers overlap their commands)."""
    requests = [SubmitRequest(s.path, s.job_file, s.job_text) for s in group]
    for slot, outcome in zip(group, runner.submit(requests, engine.host.run)):  # noqa: B905
        if outcome.runner_id is None and outcome.uncertain:
            # transient (a slow scheduler): not a failure; the job's own status
            # lines (its start) or a later look settle what happened
            why = f"the runner's submit command {outcome.error or 'timed out'}: it may have the job"
            slot.reply = engine.reply(slot, status=slot.facts, error=why, submit_uncertain=True)
            continue
        if outcome.runner_id is None:
            slot.error = outcome.error or "runner gave no job id"
            continue
        slot.facts = replace(slot.facts or StatusFacts(), runner_id=outcome.runner_id)
        try:
            engine.host.append_status(slot, [(keys.RUNNER_ID, outcome.runner_id)])
            error = None
        except OSError as exc:
            # The runner has the job: say so, with the trouble, never "not submitted".
            error = f"the runner took the job but job.status could not record it: {exc}"
        # The reply tells of the submission itself, not of what the job did
        # since (a fast job may have ended already): polls report progress.
        slot.reply = engine.reply(slot, runner_id=outcome.runner_id, status=slot.facts, error=error)


def directives(raw: Mapping[str, Any]) -> Directives:
    """A submit request's directives, checked by the one schema (the controller
    checked them before sending; an older or foreign one may not have)."""
    return from_wire(raw)
