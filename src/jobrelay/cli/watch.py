"""`jobrelay watch`: a live view of one run's jobs, polled until all are final.

Drawn with rich (imported here only): counts by state, states in colour, each
job's time since submission and its run time, redrawn in place (no clearing)
a few times a second; the jobs not final first, cut to the terminal's height.
When all are final it leaves the last view and a summary line, and exits by
the jobs' fate (0 all succeeded, else 1).
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections import Counter

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.table import Table
from rich.text import Text

from ..ledger.records import JobRecord
from ..ledger.store import Ledger
from ..manager.contact import holding_runs
from ..manager.controller import Controller
from ..states import JobState
from . import render
from .exits import UsageError, fate
from .job_verbs import with_controller
from .targets import known_runs

COLOURS = {
    JobState.SUBMITTING: "yellow dim",
    JobState.SUBMITTED: "yellow",
    JobState.RUNNING: "cyan bold",
    JobState.SUCCEEDED: "green",
    JobState.FAILED: "red bold",
    JobState.SUBMIT_FAILED: "red",
    JobState.KILLED: "magenta",
    JobState.LOST: "red dim",
    JobState.UNKNOWN: "bright_black",
}
ORDER = list(COLOURS)  # the order counts are listed in
FRAME_LINES = 8  # header, table head and borders, the "more" and summary lines


def cmd_watch(args: argparse.Namespace) -> int:
    return with_controller(args, watch_command)


def current_run(ledger: Ledger, run: str | None) -> str:
    """``--run`` when it has jobs, else the run of the latest submitted job."""
    if run is not None:
        if not ledger.find(run=run):
            raise UsageError(f"watch: no jobs in run {run!r}{known_runs(ledger)}")
        return run
    latest = ledger.latest()
    if latest is None:
        raise UsageError("watch: the ledger has no jobs yet (submit some first)")
    return latest.run


async def watch_command(controller: Controller, args: argparse.Namespace) -> int:
    run = current_run(controller.ledger, args.run)
    live = any(not j.state.is_final for j in controller.ledger.find(run=run))
    # --run R: it holds R (it watches it, new jobs may come); the current run
    # only when it has jobs to poll (a finished run may be waited on elsewhere)
    async with holding_runs(controller.home, [run] if args.run or live else []):
        return await watch(controller, run, args.interval)


async def watch(controller: Controller, run: str, interval: float) -> int:
    console = Console()
    view = View(run, controller.ledger.find(run=run), interval, console)
    errors = {j.id: j.error for j in view.jobs}
    with Live(view, console=console, refresh_per_second=4, transient=False) as screen:
        while not view.all_final:
            pending = [j for j in view.jobs if not j.state.is_final]
            await controller.poll(pending)
            view.jobs = controller.ledger.find(run=run)
            view.polled = time.time()
            for job in view.jobs:  # each error once, above the view
                if job.error and job.error != errors.get(job.id):
                    screen.console.print(Text(render.errors([job]).rstrip(), style="red"))
                errors[job.id] = job.error
            if not view.all_final:
                await asyncio.sleep(interval)
        screen.refresh()
    if not console.is_terminal:
        console.print()  # piped: the last view ends its line
    return fate(view.jobs)


class View:
    """What the screen shows; re-rendered from the latest jobs at every refresh."""

    def __init__(self, run: str, jobs: list[JobRecord], interval: float, console: Console):
        self.run = run
        self.jobs = jobs
        self.interval = interval
        self.console = console
        self.polled: float | None = None

    @property
    def all_final(self) -> bool:
        return all(j.state.is_final for j in self.jobs)

    def __rich__(self) -> RenderableType:
        counts = Counter(j.state for j in self.jobs)
        head = Text(f"run {self.run}  ", style="bold")
        head.append(f"{len(self.jobs)} job{'s' if len(self.jobs) != 1 else ''}  ")
        for state in ORDER:
            if counts[state]:
                head.append(f"{state.value} {counts[state]}  ", style=COLOURS[state])
        first = min((j.created for j in self.jobs), default=None)
        last = max((j.exit_time or j.updated for j in self.jobs), default=None)
        took = render.seconds_between(first, last if self.all_final else None)
        head.append(f"elapsed {render.duration(took)}")
        if self.polled is not None:
            head.append(f"  polled {time.strftime('%H:%M:%S', time.localtime(self.polled))}"
                        f" (every {self.interval:g}s)", style="dim")  # fmt: skip
        parts: list[RenderableType] = [head, self.table()]
        if self.all_final:
            parts.append(self.summary(counts))
        return Group(*parts)

    def table(self) -> RenderableType:
        table = Table(box=None, header_style="bold", pad_edge=False)
        for column in ("JOB", "STATE", "NAME", "HOST", "RUNNER_ID", "ELAPSED", "RUN TIME", "EXIT"):
            table.add_column(column, no_wrap=True, overflow="ellipsis")
        room = max(3, self.console.size.height - FRAME_LINES)
        # the jobs not final first: they are what a watcher waits for
        shown = sorted(self.jobs, key=lambda j: (j.state.is_final, j.id))
        hidden = shown[room:]
        for j in shown[:room]:
            table.add_row(
                j.ref,
                Text(j.state.value, style=COLOURS[j.state]),
                render.printable(j.name),
                j.host or "-",
                j.runner_id or "-",
                render.elapsed(j),
                render.run_time(j) or "-",
                j.exit or "-",
            )
        if not hidden:
            return table
        more = Counter(j.state.value for j in hidden)
        said = ", ".join(f"{n} {state}" for state, n in sorted(more.items()))
        return Group(table, Text(f"… {len(hidden)} more ({said}): jobrelay list --run "
                                 f"{self.run}", style="dim"))  # fmt: skip

    def summary(self, counts: Counter[JobState]) -> Text:
        ok = counts[JobState.SUCCEEDED] == len(self.jobs)
        said = ", ".join(f"{counts[s]} {s.value}" for s in ORDER if counts[s])
        return Text(
            f"all {len(self.jobs)} job(s) final: {said}",
            style="green bold" if ok else "red bold",
        )
