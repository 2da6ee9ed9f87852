"""Kill jobs of local platforms without an agent process or an event loop.

ecFlow starts one ``jobrelay kill`` per task it kills (``ECF_KILL_CMD``). When
every job named is on a platform whose job files are on this machine, the
kill's engine calls run here, each in a forked child that finishes it even
if this command is killed (``in_process`` ``call_detached``): the same
engine, verifying each job gone, and the same recording as the controller's
kill (``recording``). Jobs of
platforms reached over SSH or SSH-free go through the controller.
"""

from __future__ import annotations

from ..ledger.records import JobRecord
from ..ledger.store import Ledger
from ..platforms.model import Platform
from .budget import RunnerBudget, endpoint_of, host_bound, query_rate
from .in_process import call_detached
from .recording import job_request, record_reply

TYPE_CHECKING = False  # importing typing costs a one-shot command's start: names for mypy only
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping


def kill_here(
    ledger: Ledger,
    platforms: Mapping[str, Platform],
    jobs: list[JobRecord],
    home: str,
    details: dict[int, str],
    progress: Callable[[int], None] | None = None,
) -> list[JobRecord]:
    """Kill ``jobs`` (each of a local platform in ``platforms``) from this
    process; the jobs not final before, as now recorded (as the controller's
    ``kill``: final jobs are left as they are). ``details`` gets, per job id, what the
    engine's kill found (how it was verified), as the controller's
    ``kill_details``. ``progress`` is told how many jobs each call settled."""
    wanted = [job for job in jobs if not job.state.is_final]
    marked = ledger.mark_kill_requested([job.id for job in wanted], "kill requested by the user")
    groups: dict[tuple[str, str], list[JobRecord]] = {}
    for job in marked:
        platform = platforms[job.platform]
        bound = host_bound(platform) and bool(job.host)
        host = job.host if bound and job.host else platform.hosts[0]
        groups.setdefault((platform.name, host), []).append(job)
    fresh: dict[int, JobRecord] = {}
    for (name, host), members in groups.items():
        platform = platforms[name]
        for start in range(0, len(members), max(1, platform.max_poll_batch)):
            batch = members[start : start + max(1, platform.max_poll_batch)]
            reply = call_detached(platform, host, "kill", [job_request(ledger, j) for j in batch])
            _forget(platform, host, home, [j.runner_id for j in batch if j.runner_id])
            for job in batch:
                line = reply.replies.get(job.ref)
                if line is not None and line.kill_detail:
                    details[job.id] = line.kill_detail
            fresh.update(record_reply(ledger, platform, "kill", batch, reply))
            if progress is not None:
                progress(len(batch))
    return [fresh.get(job.id) or ledger.get(job.id) for job in wanted]


def _forget(platform: Platform, host: str, home: str, ids: list[str]) -> None:
    """A shared runner answer no longer covers the killed ids (a local
    scheduler client's polling budget: manager/budget.py)."""
    rate = query_rate(platform)
    if rate.unlimited or not ids:
        return
    from pathlib import Path  # here: a background platform keeps no budget

    where = f"host:{host}" if host_bound(platform) else f"target:{platform.install_target}"
    endpoint = endpoint_of(platform, where)
    RunnerBudget(Path(home), endpoint, platform.runner, rate, platform.command_timeout).forget(ids)
