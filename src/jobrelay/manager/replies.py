"""Agent reply lines (JSON objects) back into the typed facts reconciliation reads."""

from __future__ import annotations

from typing import Any

from ..runners.base import RunnerJobInfo, RunnerState
from ..status.facts import Message, StatusFacts
from .reconcile import RunnerView


def facts_from_reply(line: dict[str, Any]) -> StatusFacts | None:
    raw = line.get("status")
    if not isinstance(raw, dict):
        return None
    messages = tuple(
        Message(str(m.get("time", "")), str(m.get("severity", "")), str(m.get("text", "")))
        for m in raw.get("messages") or ()
        if isinstance(m, dict)
    )
    return StatusFacts(
        exists=bool(raw.get("exists")),
        runner_name=_str(raw.get("runner_name")),
        runner_id=_str(raw.get("runner_id")),
        submit_time=_str(raw.get("submit_time")),
        pid=_int(raw.get("pid")),
        host=_str(raw.get("host")),
        start_time=_str(raw.get("start_time")),
        messages=messages,
        exit=_str(raw.get("exit")),
        exit_code=_int(raw.get("exit_code")),
        exit_signal=_str(raw.get("exit_signal")),
        exit_time=_str(raw.get("exit_time")),
        exit_by=_str(raw.get("exit_by")),
        runner_forgot=_str(raw.get("runner_forgot")),
        restarts=_int(raw.get("restarts")) or 0,
        problems=tuple(str(p) for p in raw.get("problems") or ()),
    )


def runner_view(line: dict[str, Any]) -> RunnerView:
    err = line.get("runner_error")
    if isinstance(err, str):
        return RunnerView.failed(err)
    raw = line.get("runner")
    if not isinstance(raw, dict):
        return RunnerView.not_asked()
    try:
        state = RunnerState(raw.get("state"))
    except ValueError:
        return RunnerView.failed(f"runner answered an unknown state {raw.get('state')!r}")
    return RunnerView.answered(
        RunnerJobInfo(
            runner_id=str(raw.get("runner_id", "")),
            state=state,
            exit_code=_int(raw.get("exit_code")),
            signal=_str(raw.get("signal")),
            reason=str(raw.get("reason") or ""),
        )
    )


def _str(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None
