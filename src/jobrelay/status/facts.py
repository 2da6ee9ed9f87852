"""What a job status file says, as read by ``status.reader``.

Host-side and controller-side: standard library only, Python 3.8+.
"""

from __future__ import annotations

from ..host_dataclasses import dataclass

TYPE_CHECKING = False  # importing typing costs the agent 4 ms of start: names for mypy only
if TYPE_CHECKING:
    from typing import Any, Dict, List, Optional, Tuple


@dataclass(frozen=True)
class Message:
    time: str
    severity: str  # one of keys.SEVERITIES
    text: str


@dataclass(frozen=True)
class StatusFacts:
    """The settled view of one job.status: last value of each key wins."""

    exists: bool = False
    runner_name: Optional[str] = None
    runner_id: Optional[str] = None
    submit_time: Optional[str] = None
    pid: Optional[int] = None
    host: Optional[str] = None
    start_time: Optional[str] = None
    messages: Tuple[Message, ...] = ()
    exit: Optional[str] = None  # "succeeded" | "failed"
    exit_code: Optional[int] = None
    exit_signal: Optional[str] = None
    exit_time: Optional[str] = None
    exit_by: Optional[str] = None  # "wrapper" | "agent"
    runner_forgot: Optional[str] = None
    restarts: int = 0  # starts after a recorded exit (requeue, preemption); see reader
    problems: Tuple[str, ...] = ()  # what could not be read: "line 7: not KEY=VALUE", …

    @property
    def started(self) -> bool:
        return self.start_time is not None or self.pid is not None

    @property
    def finished(self) -> bool:
        return self.exit is not None


# Scalar fields in reply order; empty ones are left out of the wire form.
_SCALARS = (
    "exists",
    "runner_name",
    "runner_id",
    "submit_time",
    "pid",
    "host",
    "start_time",
    "exit",
    "exit_code",
    "exit_signal",
    "exit_time",
    "exit_by",
    "runner_forgot",
    "restarts",
)


def facts_dict(facts: StatusFacts) -> Dict[str, Any]:
    """The wire form of ``facts`` (docs/protocol.md): empty fields left out.

    Written out by hand: the agent serialises a thousand of these per poll,
    and a generic recursive conversion was half of its time.
    """
    out: Dict[str, Any] = {}
    for name in _SCALARS:
        value = getattr(facts, name)
        if value is None or value is False or (name == "restarts" and value == 0):
            continue  # exit_code 0 is kept: it is news
        out[name] = value
    if facts.messages:
        out["messages"] = [
            {"time": m.time, "severity": m.severity, "text": m.text} for m in facts.messages
        ]
    if facts.problems:
        out["problems"] = list(facts.problems)
    return out


def facts_from_wire(raw: object) -> StatusFacts:
    """``facts_dict``'s output back into ``StatusFacts`` (controller side).

    A value of the wrong type is dropped, not trusted: the field then reads as
    unknown. ValueError when ``raw`` is not an object at all.
    """
    if not isinstance(raw, dict):
        raise ValueError("not an object")
    messages = tuple(
        Message(str(m.get("time", "")), str(m.get("severity", "")), str(m.get("text", "")))
        for m in _list(raw.get("messages"))
        if isinstance(m, dict)
    )
    text = {name: _text(raw.get(name)) for name in _TEXT_FIELDS}
    return StatusFacts(
        exists=raw.get("exists") is True,
        pid=_int(raw.get("pid")),
        exit_code=_int(raw.get("exit_code")),
        restarts=_int(raw.get("restarts")) or 0,
        messages=messages,
        problems=tuple(str(p) for p in _list(raw.get("problems"))),
        **text,
    )


_TEXT_FIELDS = tuple(
    name for name in _SCALARS if name not in ("exists", "pid", "exit_code", "restarts")
)


def _text(value: object) -> Optional[str]:
    return value if isinstance(value, str) else None


def _int(value: object) -> Optional[int]:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _list(value: object) -> List[Any]:
    return value if isinstance(value, list) else []
