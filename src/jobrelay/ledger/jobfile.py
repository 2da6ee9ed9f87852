"""A job file's path as a JOB reference, and the ``<jobfile>.jid`` sidecar.

Workflow engines know a job by the file they submitted (ecFlow's
``%ECF_JOB%``, e.g. ``.../suite/task.job1``), not by a ledger reference.
JOB may therefore be a job file's path: the latest submission of that file
(the ledger keeps each job's script path, resolved). Submit also writes
``<jobfile>.jid`` beside the file: which ledger (path and id) holds the job,
its reference, platform and runner id, so another process (or a person) finds
the job without knowing the run, and a process using another ledger is told
where the job is instead of "unknown job".

A JOB is taken as a path when it starts with ``/``, ``./``, ``../`` or ``~``
(then it never means a name), or when it names an existing file (then a name
is still tried if no submission of that file is known).
"""

from __future__ import annotations

import os

from ..host_dataclasses import asdict, dataclass
from .errors import JobNotFound
from .records import JobRecord

TYPE_CHECKING = False  # importing typing costs a one-shot command's start: names for mypy only
if TYPE_CHECKING:
    from typing import Iterable, List, Optional

    from .store import Ledger

SIDECAR_SUFFIX = ".jid"
SIDECAR_FORMAT = 1
_PATH_PREFIXES = ("/", "./", "../", "~")


@dataclass(frozen=True)
class Sidecar:
    """What ``<jobfile>.jid`` holds (JSON, one object)."""

    job: str  # the reference, RUN/ID
    run: str
    id: int
    name: str
    platform: str
    runner: str
    runner_id: Optional[str]
    host: Optional[str]
    state: str  # at submit
    ledger: str  # the ledger file's path
    ledger_id: str
    format: int = SIDECAR_FORMAT


def sidecar_path(jobfile: str) -> str:
    return jobfile + SIDECAR_SUFFIX


def write_sidecar(ledger: Ledger, job: JobRecord) -> str:
    """Write ``<script>.jid`` for ``job`` (whole or not at all); its path."""
    data = Sidecar(
        job=job.ref,
        run=job.run,
        id=job.id,
        name=job.name,
        platform=job.platform,
        runner=job.runner,
        runner_id=job.runner_id,
        host=job.host,
        state=job.state.value,
        ledger=os.path.abspath(ledger.path),
        ledger_id=ledger.ledger_id,
    )
    path = sidecar_path(job.script_path)
    tmp = f"{path}.tmp{os.getpid()}"
    import json  # here: `list` and `status` of a job by id read no sidecar

    with open(tmp, "w", encoding="utf-8") as out:
        json.dump(asdict(data), out, ensure_ascii=False)
        out.write("\n")
    os.replace(tmp, path)
    return path


def write_sidecars(ledger: Ledger, jobs: Iterable[JobRecord]) -> List[str]:
    """A sidecar for each job; the problems, one line each (a sidecar that cannot
    be written does not undo a submission)."""
    problems = []
    for job in jobs:
        try:
            write_sidecar(ledger, job)
        except OSError as exc:
            where = sidecar_path(job.script_path)
            problems.append(f"job {job.ref}: cannot write {where}: {exc.strerror or exc}")
    return problems


def read_sidecar(path: str) -> Optional[Sidecar]:
    """The sidecar at ``path``; None when missing or not one of ours."""
    import json

    try:
        with open(path, encoding="utf-8") as src:
            data = json.load(src)
        return Sidecar(**data) if isinstance(data, dict) else None
    except (OSError, ValueError, TypeError):
        return None


def is_path_ref(arg: str) -> bool:
    return arg.startswith(_PATH_PREFIXES) or os.path.isfile(arg)


def resolve_jobfile(ledger: Ledger, arg: str, run: Optional[str] = None) -> Optional[JobRecord]:
    """The job ``arg`` means as a job file; None when ``arg`` is not meant as one."""
    if not is_path_ref(arg):
        return None
    path = os.path.realpath(os.path.expanduser(arg))  # Path.resolve(), without pathlib
    found = ledger.find(run=run, script_path=path)
    if found:
        return found[-1]  # oldest first: the last is the latest submission
    sidecar = read_sidecar(sidecar_path(path))
    if sidecar is not None and sidecar.ledger_id != ledger.ledger_id:
        raise JobNotFound(
            f"job file {arg}: submitted as {sidecar.job} to the ledger {sidecar.ledger},"
            f" not this one ({ledger.path}): use that ledger's JOBRELAY_HOME"
        )
    if arg.startswith(_PATH_PREFIXES):
        where = f" in run {run!r}" if run else ""
        raise JobNotFound(f"unknown job {arg!r}: no submission of job file {path}{where}")
    return None
