"""`jobrelay list` (the ledger's jobs) and `jobrelay show JOB` (one job's whole
story). Neither contacts a host; `list` imports no more than the ledger."""

from __future__ import annotations

import argparse
import sys

from ..ledger.records import Event, EventKind, JobRecord
from . import render
from .exits import OK
from .targets import by_state, check_run, open_ledger, resolve

TYPE_CHECKING = False  # importing typing costs a one-shot command's start: names for mypy only
if TYPE_CHECKING:
    from typing import Any


def cmd_list(args: argparse.Namespace) -> int:
    with open_ledger() as ledger:
        check_run(ledger, args.run)
        jobs = by_state(ledger.find(run=args.run), args)
    sys.stdout.write(render.json_lines(jobs) if args.json else render.table(jobs))
    return OK


def cmd_show(args: argparse.Namespace) -> int:
    with open_ledger() as ledger:
        job = resolve(ledger, args.job, args.run)
        events = ledger.events(job.id)
    root = run_root_of(args, job.platform)
    if args.json:
        data = render.job_json(job) | paths(job, root)
        data["events"] = [event_json(e) for e in events]
        data |= {"start_time": job.start_time, "exit_time": job.exit_time}
        import json  # here: `list` without --json starts without it

        sys.stdout.write(json.dumps(data, ensure_ascii=False) + "\n")
    else:
        sys.stdout.write(story(job, events, root))
    return OK


def run_root_of(args: argparse.Namespace, platform: str) -> str | None:
    """The platform's run root as configured now; None when it left the config."""
    from ..platforms.config import load_platforms

    found = load_platforms(args.config).get(platform)
    return found.run_root if found else None


def paths(job: JobRecord, root: str | None) -> dict[str, Any]:
    where = f"{root.rstrip('/')}/{job.job_dir}" if root else job.job_dir
    outputs = [job.output] if job.output else [f"{where}/job.out", f"{where}/job.err"]
    return {"job_dir_path": where, "outputs": outputs}


def event_json(event: Event) -> dict[str, Any]:
    data: dict[str, Any] = {"time": event.time, "kind": event.kind.value, "detail": event.detail}
    if event.kind is EventKind.MESSAGE:
        data |= {"severity": event.severity, "source_time": event.source_time}
    return data


def story(job: JobRecord, events: list[Event], root: str | None) -> str:
    p = render.printable
    where = paths(job, root)
    rows = [
        ("job", f"{job.ref}  {p(job.name)}  (submission {job.submit_num} of this name)"),
        ("state", job.state.value + (f"  exit {job.exit}" if job.exit else "")),
        ("platform", f"{job.platform}  runner {job.runner}  id {job.runner_id or '-'}"),
        ("host", job.host or "-"),
        ("job dir", p(where["job_dir_path"]) + ("" if root else "  (platform not configured)")),
        ("output", "  ".join(p(o) for o in where["outputs"])),
        ("script", p(job.script_path)),
        ("submitted", render.clock(job.created)),
        ("started", render.clock(job.start_time)),
        ("ended", render.clock(job.exit_time)),
        ("run time", render.run_time(job) or "-"),
    ]
    if job.directives:
        rows.append(("directives", " ".join(f"{k}={v}" for k, v in job.directives.items())))
    if job.env:
        rows.append(("env", " ".join(p(f"{k}={v}") for k, v in job.env.items())))
    if job.error:
        rows.append(("error", p(job.error)))
    lines = [f"{label:<11} {value}" for label, value in rows]
    lines.append("history:")
    lines.extend(f"  {render.clock(e.time)}  {event_line(e)}" for e in events)
    return "\n".join(lines) + "\n"


def event_line(event: Event) -> str:
    detail = render.printable(event.detail)
    if event.kind is EventKind.MESSAGE:
        said = f" (job's clock {render.clock(event.source_time)})" if event.source_time else ""
        return f"message [{event.severity or 'info'}]{said}: {detail}"
    return f"{event.kind.value}: {detail}"
