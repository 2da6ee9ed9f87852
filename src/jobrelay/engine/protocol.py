"""The agent protocol (contract: docs/protocol.md).

Request: one JSON object on the agent's standard input.
Reply: JSON lines on its standard output: exactly one line per job asked
about (``"job"`` key), then one closing line (``"end": true``) so the
controller can tell a complete reply from a cut one.

Host-side: standard library only, Python 3.8+.
"""

from __future__ import annotations

import json

from ..host_dataclasses import dataclass, field
from ..runners.base import RunnerJobInfo, RunnerState
from ..status.facts import StatusFacts, facts_dict, facts_from_wire

TYPE_CHECKING = False  # importing typing costs the agent 4 ms of start: names for mypy only
if TYPE_CHECKING:
    from typing import Any, Dict, List, Mapping, Optional, Union

PROTOCOL_VERSION = 1
VERBS = ("submit", "poll", "kill")
#: hex digits of the ledger id that start its job dirs' names: 64 bits, so two
#: ledgers' job dirs never meet (and if they did, the identity check would
#: refuse the second submission)
LEDGER_PREFIX_DIGITS = 16


def dir_named_for(job_dir: str, identity: str) -> bool:
    """The job dir's name is the one the layout gives this submission
    (``<ledger prefix>-<job id>-<slug>``, identity ``<ledger>/<job id>/<n>``):
    no other ledger's or job's submission is ever written there."""
    ledger, _, rest = identity.partition("/")
    job_id = rest.partition("/")[0]
    if len(ledger) < LEDGER_PREFIX_DIGITS or not job_id:
        return False
    name = job_dir.rstrip("/").rpartition("/")[2]
    return name.startswith(f"{ledger[:LEDGER_PREFIX_DIGITS]}-{job_id}-")


class ProtocolError(Exception):
    """A request or reply that does not follow the protocol."""


@dataclass(frozen=True)
class JobRequest:
    job: str  # the controller's reference, echoed back
    dir: str  # job dir, relative to the run root
    runner: str = ""  # runner name (submit); poll/kill read it from job.status
    name: str = ""  # submit: the job's name as the user gave it (any characters)
    script: str = ""  # submit: the user's script, written to job.script
    directives: Mapping[str, Any] = field(default_factory=dict)  # submit: Directives fields
    env: Mapping[str, str] = field(default_factory=dict)  # submit: exported to the job
    # poll/kill: the id the controller's ledger holds. The agent ignores it (it
    # reads job.status); the SSH-free controller, which cannot write there, uses it.
    runner_id: str = ""
    # the submission: "<ledger id>/<job id>/<submit num>", written into job.status
    # at submit; a job dir whose file names another is never taken for this job's
    identity: str = ""
    # poll: the status file's stamp from the controller's last read of it (a
    # reply's "stamp"), sent with runner and runner_id as that read found them.
    # While the file keeps that stamp the agent does not read it again and
    # answers "unchanged" with the runner's view only.
    seen: str = ""


@dataclass(frozen=True)
class RunnerGrant:
    """Poll: what the controller's polling budget allows the engine to ask the
    runner (docs/performance.md, "polling budget").

    ``covers``: ids another process's query answered a moment ago (``jobs``:
    its answers; a covered id not in ``jobs`` is gone): taken as the runner's
    answer, not asked again. ``ask``: the engine may make one query per
    runner, for the ids it needs plus ``extra`` (what other processes of the
    user wait for); if False, a job needing the runner gets a runner error.
    No view at all: ask freely (no budget).
    """

    runner: str
    ask: bool
    extra: List[str] = field(default_factory=list)
    covers: List[str] = field(default_factory=list)
    jobs: Mapping[str, RunnerJobInfo] = field(default_factory=dict)

    def to_wire(self) -> Dict[str, Any]:
        return {
            "runner": self.runner,
            "ask": self.ask,
            "extra": list(self.extra),
            "covers": list(self.covers),
            "jobs": {k: info_dict(v) for k, v in self.jobs.items()},
        }


def grant_from_wire(raw: object) -> Optional[RunnerGrant]:
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise ProtocolError("runner_grant is not an object")
    jobs = raw.get("jobs") or {}
    if not isinstance(jobs, dict):
        raise ProtocolError("runner_grant.jobs is not an object")
    return RunnerGrant(
        runner=str(raw.get("runner") or ""),
        ask=raw.get("ask") is True,
        extra=[str(i) for i in raw.get("extra") or []],
        covers=[str(i) for i in raw.get("covers") or []],
        jobs={str(k): info_from_wire(v) for k, v in jobs.items()},
    )


@dataclass(frozen=True)
class Request:
    verb: str
    run_root: str  # "~/jobrelay-run" or absolute
    jobs: List[JobRequest]
    runner_options: Mapping[str, Any] = field(default_factory=dict)
    v: int = PROTOCOL_VERSION
    runner_grant: Optional[RunnerGrant] = None  # poll: the polling budget's word

    def to_json(self, job_texts: Optional[List[str]] = None) -> str:
        """The request as one line; ``job_texts``: the jobs already encoded
        (``job_wire``), as a controller that keeps them between polls has them."""
        texts = [job_wire(job) for job in self.jobs] if job_texts is None else job_texts
        head = json.dumps(
            {
                "v": self.v,
                "verb": self.verb,
                "run_root": self.run_root,
                "runner_options": dict(self.runner_options),
            },
            separators=(",", ":"),
        )
        grant = ""
        if self.runner_grant is not None:
            grant = ',"runner_grant":' + json.dumps(
                self.runner_grant.to_wire(), separators=(",", ":")
            )
        return f'{head[:-1]},"jobs":[{",".join(texts)}]{grant}}}'


def job_wire(job: JobRequest) -> str:
    """One job of a request as JSON: empty fields left out. By hand, not
    asdict(), which copies every script recursively."""
    item: Dict[str, Any] = {"job": job.job, "dir": job.dir}
    for name in ("runner", "name", "script", "runner_id", "seen", "identity"):
        if getattr(job, name):
            item[name] = getattr(job, name)
    if job.directives:
        item["directives"] = dict(job.directives)
    if job.env:
        item["env"] = dict(job.env)
    return json.dumps(item, separators=(",", ":"))


def parse_request(text: str) -> Request:
    try:
        data = json.loads(text)
    except (ValueError, RecursionError) as exc:  # RecursionError: nesting too deep
        raise ProtocolError(f"request is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ProtocolError("request is not a JSON object")
    if data.get("v") != PROTOCOL_VERSION:
        raise ProtocolError(f"protocol version {data.get('v')!r}, agent speaks {PROTOCOL_VERSION}")
    verb = data.get("verb")
    if verb not in VERBS:
        raise ProtocolError(f"unknown verb {verb!r} (expected one of {', '.join(VERBS)})")
    run_root = data.get("run_root")
    if not isinstance(run_root, str) or not run_root:
        raise ProtocolError("run_root missing")
    raw_jobs = data.get("jobs")
    if not isinstance(raw_jobs, list):
        raise ProtocolError("jobs is not a list")
    jobs = []
    for i, item in enumerate(raw_jobs):
        if not isinstance(item, dict) or not isinstance(item.get("job"), str):
            raise ProtocolError(f"jobs[{i}] has no job reference")
        env = item.get("env") or {}
        if not isinstance(env, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in env.items()
        ):
            raise ProtocolError(f"jobs[{i}].env is not a name -> text object")
        directives = item.get("directives") or {}
        if not isinstance(directives, dict):
            raise ProtocolError(f"jobs[{i}].directives is not an object")
        jobs.append(
            JobRequest(
                job=item["job"],
                dir=str(item.get("dir", "")),
                runner=str(item.get("runner", "")),
                name=str(item.get("name", "")),
                script=str(item.get("script", "")),
                directives=directives,
                env=env,
                runner_id=str(item.get("runner_id") or ""),
                seen=str(item.get("seen") or ""),
                identity=str(item.get("identity") or ""),
            )
        )
    options = data.get("runner_options") or {}
    if not isinstance(options, dict):
        raise ProtocolError("runner_options is not an object")
    return Request(
        verb=verb,
        run_root=run_root,
        jobs=jobs,
        runner_options=options,
        runner_grant=grant_from_wire(data.get("runner_grant")),
    )


@dataclass(frozen=True)
class JobReply:
    """The one line about one job. ``error`` set: the verb failed on this job.

    Built by the engine (agent or SSH-free), encoded once by ``to_json`` and
    decoded once by ``decode_reply_line``; the controller reads only this type.
    """

    job: str
    dir: str
    verb: str
    error: Optional[str] = None
    status: Optional[StatusFacts] = None  # the status file (after the verb acted)
    runner: Optional[RunnerJobInfo] = None  # the runner's answer, when it was asked
    runner_error: Optional[str] = None  # the runner query failed: nothing is known from it
    runner_id: Optional[str] = None  # submit: the id the runner gave (or found in job.status)
    resubmit_refused: bool = False  # submit: the job dir shows an earlier submission
    in_progress: bool = False  # poll, submit: another agent holds the job's submit lock now
    kill_detail: Optional[str] = None  # kill: what happened
    kill_verified: bool = False  # kill: the job is known gone (file records its end, or runner)
    stamp: Optional[str] = None  # poll: the status file's stamp when it was read
    unchanged: bool = False  # poll: the file still has the request's "seen" stamp; no status
    # submit: the runner's submit command timed out; the job may be with the runner
    submit_uncertain: bool = False
    v: int = PROTOCOL_VERSION

    def to_json(self) -> str:
        # Field by field, not asdict(): a recursive copy of the status for each
        # of a thousand jobs is wasted time.
        data: Dict[str, Any] = {}
        for name in _REPLY_FIELDS:
            value = getattr(self, name)
            if value is not None and value is not False:
                data[name] = value
        if self.status is not None:
            data["status"] = facts_dict(self.status)
        if self.runner is not None:
            data["runner"] = info_dict(self.runner)
        return json.dumps(data, separators=(",", ":"))


# Plain fields in wire order; status and runner are encoded by their own functions.
_REPLY_FIELDS = (
    "job",
    "dir",
    "verb",
    "error",
    "runner_error",
    "runner_id",
    "resubmit_refused",
    "in_progress",
    "kill_detail",
    "kill_verified",
    "stamp",
    "unchanged",
    "submit_uncertain",
    "v",
)
_TEXT_FIELDS = ("error", "runner_error", "runner_id", "kill_detail", "stamp")
_FLAG_FIELDS = ("resubmit_refused", "in_progress", "kill_verified", "unchanged", "submit_uncertain")


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


def info_from_wire(raw: object) -> RunnerJobInfo:
    if not isinstance(raw, dict):
        raise ProtocolError("runner is not an object")
    try:
        state = RunnerState(raw.get("state"))
    except ValueError:
        raise ProtocolError(f"runner answered an unknown state {raw.get('state')!r}") from None
    return RunnerJobInfo(
        runner_id=str(raw.get("runner_id", "")),
        state=state,
        exit_code=_int(raw.get("exit_code")),
        signal=_text(raw.get("signal")),
        reason=str(raw.get("reason") or ""),
    )


@dataclass(frozen=True)
class RunnerQuery:
    """Poll: the one runner query the engine made for the whole request (the
    ids asked, and the answers), so the controller can share it with the
    user's other processes. ``error``: the query failed."""

    ids: List[str]
    jobs: Mapping[str, RunnerJobInfo] = field(default_factory=dict)
    error: Optional[str] = None

    def to_wire(self) -> Dict[str, Any]:
        out: Dict[str, Any] = {"ids": list(self.ids)}
        out["jobs"] = {k: info_dict(v) for k, v in self.jobs.items()}
        if self.error:
            out["error"] = self.error
        return out


def query_from_wire(raw: object) -> Optional[RunnerQuery]:
    if not isinstance(raw, dict) or not isinstance(raw.get("ids"), list):
        return None
    jobs = raw.get("jobs") if isinstance(raw.get("jobs"), dict) else {}
    return RunnerQuery(
        ids=[str(i) for i in raw["ids"]],
        jobs={str(k): info_from_wire(v) for k, v in jobs.items()},  # type: ignore[union-attr]
        error=_text(raw.get("error")),
    )


@dataclass(frozen=True)
class EndLine:
    agent_version: str
    count: int
    host: str
    v: int = PROTOCOL_VERSION
    end: bool = True
    runner_query: Optional[RunnerQuery] = None  # poll: the runner query made, if any

    def to_json(self) -> str:
        data: Dict[str, Any] = {
            "agent_version": self.agent_version,
            "count": self.count,
            "host": self.host,
            "v": self.v,
            "end": self.end,
        }
        if self.runner_query is not None:
            data["runner_query"] = self.runner_query.to_wire()
        return json.dumps(data, separators=(",", ":"))


def decode_reply_line(line: str) -> Union[JobReply, EndLine]:
    """One reply line, typed; ProtocolError for anything that is not one."""
    try:
        data = json.loads(line)
    except (ValueError, RecursionError):  # RecursionError: nesting too deep
        raise ProtocolError(f"agent reply line is not JSON: {line[:200]!r}") from None
    if not isinstance(data, dict) or data.get("v") != PROTOCOL_VERSION:
        raise ProtocolError(f"agent reply line has wrong protocol version: {line[:200]!r}")
    if data.get("end") is True:
        return EndLine(
            agent_version=str(data.get("agent_version")),
            count=_int(data.get("count")) or 0,
            host=str(data.get("host", "")),
            runner_query=query_from_wire(data.get("runner_query")),
        )
    job, rel, verb = data.get("job"), data.get("dir"), data.get("verb")
    if not (isinstance(job, str) and isinstance(rel, str) and isinstance(verb, str)):
        raise ProtocolError(f"agent reply line names no job: {line[:200]!r}")
    values: Dict[str, Any] = {name: _text(data.get(name)) for name in _TEXT_FIELDS}
    values.update({name: data.get(name) is True for name in _FLAG_FIELDS})
    status, runner = data.get("status"), data.get("runner")
    try:
        values["status"] = None if status is None else facts_from_wire(status)
        values["runner"] = None if runner is None else info_from_wire(runner)
    except ProtocolError as exc:
        raise ProtocolError(f"agent reply line about {job!r}: {exc}") from None
    except ValueError as exc:
        raise ProtocolError(f"agent reply line about {job!r}: status: {exc}") from None
    return JobReply(job=job, dir=rel, verb=verb, **values)


def _text(value: object) -> Optional[str]:
    return value if isinstance(value, str) else None


def _int(value: object) -> Optional[int]:
    return value if isinstance(value, int) and not isinstance(value, bool) else None
