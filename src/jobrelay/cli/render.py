"""How jobs are printed: a table for people, JSON lines for programs."""

from __future__ import annotations

from ..states import JobState

TYPE_CHECKING = False  # importing typing costs a one-shot command's start: names for mypy only
if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping
    from typing import Any

    from ..ledger.records import JobRecord

COLUMNS = ("JOB", "STATE", "PLATFORM", "HOST", "RUNNER_ID", "EXIT", "NAME")


def job_json(job: JobRecord) -> dict[str, Any]:
    """The `--json` object for one job (contract: job, state, platform, host, runner, …)."""
    data: dict[str, Any] = {
        "job": job.ref,
        "state": job.state.value,
        "platform": job.platform,
        "host": job.host,
        "runner": job.runner,
        "runner_id": job.runner_id,
        "exit": job.exit,
        "exit_code": job.exit_code,
        "exit_signal": job.exit_signal,
        "name": job.name,
        "run": job.run,
        "submit_num": job.submit_num,
        "job_dir": job.job_dir,
    }
    if job.error:
        data["error"] = job.error
    return data


def json_lines(jobs: Iterable[JobRecord]) -> str:
    import json  # here: `list` without --json starts without it

    return "".join(json.dumps(job_json(j), ensure_ascii=False) + "\n" for j in jobs)


def printable(text: str) -> str:
    """A name safe to show on one terminal line (hostile names can hold newlines, escapes)."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def table(jobs: Iterable[JobRecord]) -> str:
    rows = [COLUMNS]
    for j in jobs:
        rows.append(
            (
                j.ref,
                j.state.value,
                j.platform,
                j.host or "-",
                j.runner_id or "-",
                j.exit or "-",
                printable(j.name),
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(COLUMNS) - 1)]
    lines = []
    for r in rows:
        cells = [c.ljust(w) for c, w in zip(r, widths, strict=False)]
        lines.append("  ".join([*cells, r[-1]]).rstrip())
    return "\n".join(lines) + "\n"


def errors(jobs: Iterable[JobRecord]) -> str:
    """One line per job that carries an error, naming the job."""
    return "".join(
        f"jobrelay: job {j.ref} ({printable(j.name)}): {printable(j.error)}\n"
        for j in jobs
        if j.error
    )


def clock(iso: str | None) -> str:
    """A ledger time (ISO 8601 UTC) to the second, for people; '-' when unknown."""
    if not iso:
        return "-"
    day, _, rest = iso.partition("T")
    return f"{day} {rest[:8]}Z" if rest else iso


def seconds_between(start: str | None, end: str | None) -> float | None:
    if not start:
        return None
    from datetime import UTC, datetime

    def read(text: str) -> datetime:
        # to the second: the job's own times have no more, and mixing would
        # show a job that ran 2s as 1s since its submission
        return datetime.fromisoformat(text[:19]).replace(tzinfo=UTC)

    stop = read(end) if end else datetime.now(UTC)
    return max(0.0, (stop - read(start)).total_seconds())


def duration(seconds: float | None) -> str:
    """``42s``, ``3m05s``, ``2h01m``; empty when unknown."""
    if seconds is None:
        return ""
    s = int(seconds)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{s % 3600 // 60:02d}m"


def run_time(job: JobRecord) -> str:
    """How long the job ran (still running: so far), by its own start and end."""
    if job.state.is_final and not job.exit_time:
        return ""  # it ended, but not by its own account: no true figure
    return duration(seconds_between(job.start_time, job.exit_time))


def elapsed(job: JobRecord) -> str:
    """Since submission: until its end when final."""
    end = job.exit_time or (job.updated if job.state.is_final else None)
    return duration(seconds_between(job.created, end))


KILLED, FINISHED, NOT_VERIFIED = "killed", "already finished", "not verified"


def kill_result(job: JobRecord, detail: str | None) -> tuple[str, str]:
    """A kill's result for ``job`` (killed, already finished, not verified) and how,
    from the ledger after the kill and the engine's word (``detail``: None when
    no host was asked, the ledger already holding the job's end)."""
    if not job.state.is_final:
        return NOT_VERIFIED, job.error or f"the job is still {job.state.value}"
    how = f"exit signal {job.exit_signal}" if job.exit_signal else f"exit {job.exit_code}"
    ended = f", ended {job.exit_time}" if job.exit_time else ""
    if not detail or detail.startswith(FINISHED):
        return FINISHED, f"{job.state.value} ({how}){ended}"  # printed after the word
    if job.state is JobState.KILLED:
        return KILLED, detail
    # Gone after the kill, but by the end its script recorded (it caught the
    # signal, or only its children got it): that end is the job's state.
    return KILLED, f"{detail}; the job recorded its own end: {job.state.value} ({how}){ended}"


def kill_lines(jobs: Iterable[JobRecord], details: Mapping[int, str], as_json: bool) -> str:
    """``kill``'s report: per job its record with ``kill`` and ``kill_detail`` (JSON),
    or one line per job."""
    import json

    out = []
    for job in jobs:
        word, how = kill_result(job, details.get(job.id))
        if as_json:
            data = {**job_json(job), "kill": word, "kill_detail": how}
            out.append(json.dumps(data, ensure_ascii=False) + "\n")
        else:
            out.append(f"{job.ref} ({printable(job.name)}): {word}: {printable(how)}\n")
    return "".join(out)
