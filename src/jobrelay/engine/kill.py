"""Kill, verified: a job's kill is done when the job is known gone.

Gone means its status file records its end, or its runner no longer has it
(forgot it, or says it ended). After the runner's kill the engine looks again
until every job is gone or ``RunnerOptions.kill_timeout`` passes; a job still
there after ``kill_grace`` gets the runner's harder kill (``escalate``: KILL
for background and at jobs, a forced cancel for batch schedulers). Each job's
answer is one of: killed (verified), already finished (with its real end),
or an error saying why the kill is not verified.

Host-side: standard library only, Python 3.8+.
"""

from __future__ import annotations

import time

from ..host_dataclasses import replace
from ..runners.base import KillOutcome, KillTarget, Runner, RunnerState, after_grace
from ..status import keys
from ..status.facts import StatusFacts
from .jobhost import HostTrouble, Slot, not_ready

TYPE_CHECKING = False  # importing typing costs the agent 4 ms of start: names for mypy only
if TYPE_CHECKING:
    from typing import Dict, List, Optional, Sequence, Set, Tuple

    from .protocol import JobReply
    from .verbs import Engine

#: seconds between two looks while a kill is verified
LOOK_EVERY = 0.5
NOT_SUBMITTED = "not submitted (no runner id in job.status): nothing to kill"


def kill(engine: Engine, slots: List[Slot]) -> None:
    live = not_ready(slots)
    try:
        engine.host.read_status(live)
    except HostTrouble:
        # The files are out of reach, perhaps not the runner: kill by the ids
        # the controller knows; the replies then carry no status.
        for slot in live:
            slot.error, slot.facts = None, None
    targets: List[Slot] = []
    for slot in not_ready(live):
        if slot.facts is not None and engine.foreign(slot):
            continue
        facts = slot.facts
        if (facts is None or not facts.exists) and slot.req.runner_id:
            # no status record to read: the controller's id is all there is
            slot.facts = StatusFacts(runner_name=slot.req.runner, runner_id=slot.req.runner_id)
            targets.append(slot)
        elif facts is not None and engine.settled(facts):
            slot.reply = kill_reply(engine, slot, "already finished", verified=False)
        elif facts is not None and not facts.runner_id and slot.req.runner_id:
            # the file lost its runner id (cut or emptied in place): the controller's stands
            name = facts.runner_name or slot.req.runner
            slot.facts = replace(facts, runner_id=slot.req.runner_id, runner_name=name)
            targets.append(slot)
        elif facts is None or not facts.runner_id:
            slot.error = NOT_SUBMITTED
        else:
            targets.append(slot)
    for name, group in engine.runner_groups(targets).items():
        kill_group(engine, engine.runner(name), group)


def kill_group(engine: Engine, runner: Runner, group: List[Slot]) -> None:
    started = time.monotonic()
    outcomes = runner.kill([target(engine, s) for s in group], engine.host.run)
    sent: List[Slot] = []
    detail: Dict[int, str] = {}
    for slot, outcome in zip(group, outcomes):  # noqa: B905 (strict= is 3.10+)
        if outcome.ok:
            sent.append(slot)
            detail[id(slot)] = outcome.detail or "killed"
        else:
            slot.error = f"kill failed: {outcome.detail}"
    gone, why, harder = verify(engine, runner, sent, started)
    for slot in sent:
        if id(slot) in harder and after_grace(engine.options) not in detail[id(slot)]:
            detail[id(slot)] = f"{detail[id(slot)]}; {after_grace(engine.options)}"
    for slot in sent:
        facts = slot.facts
        if id(slot) not in gone:
            slot.error = f"kill not verified: {why.get(id(slot), 'the job is still there')}"
            slot.reply = kill_reply(engine, slot, detail[id(slot)], verified=False)
            continue
        if runner.kill_verifies_gone and facts and facts.started and not facts.finished:
            record_killed(engine, slot, facts)
        slot.reply = kill_reply(engine, slot, f"{detail[id(slot)]}; {gone[id(slot)]}", True)


def target(engine: Engine, slot: Slot) -> KillTarget:
    facts = slot.facts
    return KillTarget(engine.runner_id(slot), facts.pid if facts else None, slot.path)


def end_seen(facts: Optional[StatusFacts]) -> Optional[Tuple[object, ...]]:
    """The end a status file records, as a value to compare (None: no end)."""
    if facts is None or not facts.finished:
        return None
    return (facts.start_time, facts.exit_time, facts.exit, facts.exit_code, facts.exit_signal)


def verify(
    engine: Engine, runner: Runner, slots: List[Slot], started: float
) -> Tuple[Dict[int, str], Dict[int, str], Set[int]]:
    """Look until each job is gone or the time is up: (gone: how), (still there:
    why), the jobs that were sent the harder kill.

    An end the file recorded before the kill (a requeued job's first run) is not
    the kill's result: only a new end, or the runner's word, is."""
    options = engine.options
    before = {id(s): end_seen(s.facts) for s in slots}
    deadline = started + options.kill_timeout
    escalated = False
    harder: Set[int] = set()
    gone: Dict[int, str] = {}
    why: Dict[int, str] = {}
    pending = list(slots)
    while pending:
        readable = [s for s in pending if s.facts is not None and s.facts.exists]
        engine.look_again(readable)
        for slot in pending:
            end = end_seen(slot.facts)
            if end is not None and end != before[id(slot)]:
                gone[id(slot)] = "its status file records the end"
        asked = [s for s in pending if id(s) not in gone]
        if asked:
            answer = runner.poll([engine.runner_id(s) for s in asked], engine.host.run)
            for slot in asked:
                info = answer.jobs.get(engine.runner_id(slot))
                if answer.error:
                    why[id(slot)] = f"the runner cannot be asked: {answer.error}"
                elif info is None or info.state is RunnerState.GONE:
                    gone[id(slot)] = "the runner no longer has the job"
                elif info.state is RunnerState.DONE:
                    gone[id(slot)] = f"the runner says it ended ({info.reason or 'done'})"
                else:
                    said = f" ({info.reason})" if info.reason else ""
                    spent = time.monotonic() - started
                    why[id(slot)] = f"still {info.state.value}{said} after {spent:.0f} s"
        pending = [s for s in pending if id(s) not in gone]
        now = time.monotonic()
        if not pending or now >= deadline:
            break
        if not escalated and now - started >= options.kill_grace:
            escalated = True
            harder.update(id(s) for s in pending)
            failed = escalate(engine, runner, pending)
            for slot, outcome in failed:
                why[id(slot)] = f"the harder kill failed: {outcome.detail}"
        time.sleep(min(LOOK_EVERY, max(0.0, deadline - now)))
    return gone, why, harder


def escalate(
    engine: Engine, runner: Runner, slots: Sequence[Slot]
) -> List[Tuple[Slot, KillOutcome]]:
    outcomes = runner.escalate([target(engine, s) for s in slots], engine.host.run)
    return [(s, o) for s, o in zip(slots, outcomes) if not o.ok]  # noqa: B905


def record_killed(engine: Engine, slot: Slot, facts: StatusFacts) -> None:
    """The wrapper died before it could record (e.g. SIGKILL after the grace
    period): record the exit once, saying who wrote it."""
    now = engine.now()
    lines = [
        (keys.EXIT, "failed"),
        (keys.EXIT_SIGNAL, "KILL"),
        (keys.EXIT_CODE, "137"),
        (keys.EXIT_TIME, now),
        (keys.EXIT_BY, "agent"),
    ]
    try:
        engine.host.append_status(slot, lines)
    except OSError as exc:
        slot.error = f"killed, but job.status could not record it: {exc}"
        return
    slot.facts = replace(
        facts, exit="failed", exit_signal="KILL", exit_code=137, exit_time=now, exit_by="agent"
    )


def kill_reply(engine: Engine, slot: Slot, detail: str, verified: bool) -> JobReply:
    facts: Optional[StatusFacts] = slot.facts
    status = facts if facts is not None and facts.exists else None
    return engine.reply(
        slot,
        status=status,
        runner_id=facts.runner_id if facts else None,
        kill_detail=detail,
        kill_verified=verified,
        error=slot.error,
    )
