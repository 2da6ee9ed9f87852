"""The agent's ``JobHost``: job dirs on this host's filesystem, runner commands run here.

Host-side: standard library only, Python 3.8+.
"""

from __future__ import annotations

import os

from ..engine.jobhost import JobHost
from ..status.facts import StatusFacts
from ..status.reader import append_lines, read_status_file
from .jobdirs import JobDirError, resolve_job_dir

TYPE_CHECKING = False  # importing typing costs the agent 4 ms of start: names for mypy only
if TYPE_CHECKING:
    from typing import Dict, Sequence, Tuple

    from ..engine.jobhost import JobFiles, Slot


def file_stamp(path: str) -> str:
    """Identity of a status file's content: inode, size, modification time ("" if none).

    The file is only ever appended to, so an equal stamp means equal content.
    """
    try:
        st = os.stat(path)
    except OSError:
        return ""
    return f"{st.st_ino}:{st.st_size}:{st.st_mtime_ns}"


class LocalJobHost(JobHost):
    def __init__(self, root: str) -> None:
        self.root = root  # absolute and real (jobdirs.expand_root)

    def place(self, slots: Sequence[Slot]) -> None:
        parents: Dict[str, str] = {}
        for slot in slots:
            try:
                slot.path = resolve_job_dir(self.root, slot.req.dir, parents)
            except JobDirError as exc:
                slot.error = str(exc)

    def read_status(self, slots: Sequence[Slot], use_seen: bool = False) -> None:
        for slot in slots:
            req = slot.req
            # Stamp first: a line appended between the two makes the stamp older
            # than what was read, so the next poll reads again (never the reverse).
            slot.stamp = file_stamp(slot.status_path)
            slot.unchanged = bool(
                use_seen and req.seen and req.runner and req.runner_id and slot.stamp == req.seen
            )
            if slot.unchanged:
                # the controller holds what this file says: skip the read
                slot.facts = StatusFacts(
                    exists=True, runner_name=req.runner, runner_id=req.runner_id
                )
            else:
                slot.facts = read_status_file(slot.status_path)

    def lock_dir(self, slot: Slot) -> str:
        return slot.path

    def write_jobs(self, jobs: Sequence[Tuple[Slot, JobFiles]]) -> None:
        from ..jobscript.assemble import write_job_files

        for slot, files in jobs:
            try:
                write_job_files(slot.path, files.job_text, files.script_text)
                append_lines(slot.status_path, files.status_lines)
            except OSError as exc:
                slot.error = f"submit: cannot write the job files: {exc.strerror or exc}"

    def append_status(self, slot: Slot, pairs: Sequence[Tuple[str, str]]) -> None:
        append_lines(slot.status_path, pairs)
