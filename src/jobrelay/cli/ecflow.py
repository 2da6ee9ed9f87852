"""Telling ecFlow about a job that ended behind its back.

A job ecFlow submitted reports its own end (``ecflow_client --complete`` or
``--abort`` from its head/tail includes). A job killed by SIGKILL, cancelled
while pending or lost never does, and ecFlow shows it ``active`` for ever.
When ``status`` or ``kill`` finds such a job ended, this module tells ecFlow
once (``ecflow_client --abort=<reason>``), with the task's ``ECF_NAME``,
``ECF_PASS``, ``ECF_TRYNO``, ``ECF_HOST``, ``ECF_PORT`` as ecFlow wrote them
into the job file (read at submit, kept in ``jobs.ecflow_task``).

Before that it asks the server (``--query``) whether it still waits for this
very job: the task ``submitted`` or ``active`` with the job file's password
and try number. Otherwise the job told ecFlow itself, or ecFlow has moved on
to a newer try, and an abort would be wrong; either way nothing is sent and
the job is marked told. ``ECF_RID`` comes from the server (the id the job
gave at ``--init``), so the abort is not taken for a zombie.
"""

from __future__ import annotations

import fcntl
import os
import re
import sys

from ..host_dataclasses import asdict, dataclass, replace
from ..ledger.records import EventKind, EventNote, JobRecord, JobUpdate
from ..ledger.store import Ledger

TYPE_CHECKING = False  # importing typing costs a one-shot command's start: names for mypy only
if TYPE_CHECKING:  # the controller (and asyncio) only where submit runs
    from pathlib import Path

    from ..manager.submit_item import SubmitItem

#: ``export ECF_NAME=/s/f/t`` or ``ECF_NAME=/s/f/t; export ECF_NAME``, as head.h files write
#: them; compiled at its first use (a submit), not by every `status`
_ASSIGNMENT = (
    r"(?m)^\s*(?:export\s+)?(ECF_NAME|ECF_PASS|ECF_HOST|ECF_PORT|ECF_TRYNO|ECF_RID)="
    r"""("[^"$`]*"|'[^']*'|[^\s;#"'$`]+)(?=\s|;|#|$)"""
)
CLIENT = "ecflow_client"
CLIENT_TIMEOUT = 30.0  # seconds per ecflow_client call; it would otherwise retry for hours
WAITING_STATES = ("submitted", "active")
LOCK_FILE = "ecflow-tell.lock"  # beside the ledger


@dataclass(frozen=True)
class EcflowTask:
    """What a job file says about the ecFlow task it runs."""

    name: str  # ECF_NAME, the task's path
    password: str  # ECF_PASS
    host: str  # ECF_HOST
    port: str  # ECF_PORT
    tryno: str | None = None  # ECF_TRYNO
    rid: str | None = None  # ECF_RID, when written literally

    def to_json(self) -> str:
        import json  # here, as subprocess below: `status` of a job not run by ecFlow needs neither

        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> EcflowTask:
        import json

        return cls(**json.loads(text))


def task_of(text: str) -> EcflowTask | None:
    """The ecFlow task a job file's text names; None when it is not an ecFlow job."""
    found: dict[str, str] = {}
    for match in re.finditer(_ASSIGNMENT, text):
        value = match.group(2)
        if value[:1] in "\"'":
            value = value[1:-1]
        found.setdefault(match.group(1), value)  # the first assignment: head.h's
    needed = ("ECF_NAME", "ECF_PASS", "ECF_HOST", "ECF_PORT")
    if any(not found.get(key) for key in needed):
        return None
    return EcflowTask(
        name=found["ECF_NAME"],
        password=found["ECF_PASS"],
        host=found["ECF_HOST"],
        port=found["ECF_PORT"],
        tryno=found.get("ECF_TRYNO"),
        rid=found.get("ECF_RID"),
    )


def task_of_file(path: Path) -> EcflowTask | None:
    try:
        return task_of(path.read_text(errors="replace"))
    except OSError:
        return None  # the controller's read of the script reports it


def with_ecflow_tasks(items: list[SubmitItem]) -> list[SubmitItem]:
    """Each item with the ecFlow task its job file names, if any (kept in the ledger)."""
    out = []
    for item in items:
        task = task_of_file(item.script_path)
        out.append(replace(item, ecflow_task=task.to_json()) if task else item)
    return out


@dataclass(frozen=True)
class Told:
    """What happened when ecFlow was (maybe) told: ``done`` means never again."""

    done: bool
    detail: str


def tell_ecflow(ledger: Ledger, jobs: list[JobRecord]) -> None:
    """After a kill: tell ecFlow of the jobs that ended without telling it."""
    for job in jobs:
        told = tell_if_needed(ledger, job)
        if told is not None:
            print(f"jobrelay: job {job.ref}: {told.detail}", file=sys.stderr)


def tell_if_needed(ledger: Ledger, job: JobRecord) -> Told | None:
    """Tell ecFlow of ``job``'s end if it ended without telling it; record it once.

    None when there is nothing to do (not an ecFlow job, not ended, told before).
    """
    if job.ecflow_task is None or job.ecflow_told or not job.state.is_final:
        return None
    # a status and a kill of one job may run at once: one of them tells
    with open(os.path.join(os.path.dirname(ledger.path), LOCK_FILE), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        job = ledger.get(job.id)
        if job.ecflow_told or job.ecflow_task is None:
            return None
        try:
            task = EcflowTask.from_json(job.ecflow_task)
        except (ValueError, TypeError) as exc:
            return Told(False, f"the ledger's ecflow_task of job {job.ref} is unreadable: {exc}")
        told = tell(task, abort_reason(job))
        if told.done:
            note = EventNote(EventKind.NOTE, f"ecFlow: {told.detail}")
            ledger.apply([JobUpdate(job.id, ecflow_told=True, notes=(note,))])
    return told


def abort_reason(job: JobRecord) -> str:
    why = f"jobrelay: job {job.ref} {job.state.value}"
    if job.exit:
        why += f" (exit {job.exit})"
    return why


def tell(task: EcflowTask, reason: str) -> Told:
    """Abort ``task`` in ecFlow if the server still waits for this job of it."""
    try:
        state = query(task, "state", task.name)
        if state not in WAITING_STATES:
            return Told(True, f"{task.name} is {state}: nothing to tell")
        password = query(task, "variable", f"{task.name}:ECF_PASS")
        tryno = query(task, "variable", f"{task.name}:ECF_TRYNO")
        if password != task.password or (task.tryno and tryno != task.tryno):
            return Told(True, f"{task.name} runs a newer job (try {tryno}): nothing to tell")
        rid = query(task, "variable", f"{task.name}:ECF_RID") or task.rid
        child = {"ECF_NAME": task.name, "ECF_PASS": task.password}
        child["ECF_TRYNO"] = task.tryno or tryno
        if rid:
            child["ECF_RID"] = rid
        client(task, [f"--abort={reason}"], child)
    except ClientFailed as exc:
        return Told(False, f"cannot tell ecFlow that {task.name} ended: {exc}")
    return Told(True, f"told ecFlow {task.name} aborted: {reason}")


class ClientFailed(Exception):
    """ecflow_client missing, timed out, or refused."""


def query(task: EcflowTask, kind: str, what: str) -> str:
    return client(task, ["--query", kind, what]).strip()


def client(task: EcflowTask, args: list[str], child: dict[str, str] | None = None) -> str:
    # the caller's own ECF_* (ecFlow runs us with its environment) must not leak in
    env = {k: v for k, v in os.environ.items() if not k.startswith("ECF_") and k != "NO_ECF"}
    env.update(ECF_HOST=task.host, ECF_PORT=task.port, ECF_DENIED="1", ECF_TIMEOUT="20")
    env.update(child or {})
    argv = [CLIENT, *args]
    import subprocess

    try:
        proc = subprocess.run(
            argv, env=env, capture_output=True, text=True, timeout=CLIENT_TIMEOUT, check=False
        )
    except FileNotFoundError as exc:
        raise ClientFailed(f"{CLIENT} not found on PATH") from exc
    except subprocess.TimeoutExpired as exc:
        raise ClientFailed(f"{CLIENT} {args[0]} took over {CLIENT_TIMEOUT:.0f} s") from exc
    if proc.returncode != 0:
        last = (proc.stderr.strip() or proc.stdout.strip()).splitlines()[-1:] or ["no message"]
        raise ClientFailed(f"{CLIENT} {args[0]} exited {proc.returncode}: {last[0]}")
    return proc.stdout
