"""Fetch a job's output file from wherever the job ran."""

from __future__ import annotations

import os
from pathlib import Path

from ..ledger.records import JobRecord
from ..manager.controller import Controller, ControllerError
from ..platforms.model import TransportKind


async def fetch_log(controller: Controller, job: JobRecord, filename: str) -> bytes:
    """``filename`` from the job dir; a job submitted with ``-o`` has its stdout
    (and stderr) at its output path instead."""
    platform = controller.platform(job.platform)
    root, rel = platform.run_root, f"{job.job_dir}/{filename}"
    if job.output and filename == "job.out":
        root, rel = "/", job.output.lstrip("/")
        filename = job.output
    if platform.transport is TransportKind.LOCAL:
        path = Path(os.path.expanduser(root)) / rel
        try:
            return path.read_bytes()
        except OSError as exc:
            raise ControllerError(f"job {job.ref}: cannot read {path}: {exc.strerror}") from exc
    cache = controller.home / "logs"
    hosts = [job.host] if job.host else []
    hosts += [h for h in controller.picker(platform).candidates() if h not in hosts]
    transport = controller.transport(platform)
    errors = []
    for host in hosts:
        target = cache / rel
        target.unlink(missing_ok=True)
        outcome = await transport.pull(host, root, [rel], cache, timeout=platform.command_timeout)
        if target.is_symlink():
            # rsync copies a link as a link: never follow one into this machine's files
            raise ControllerError(f"job {job.ref}: {filename} on {host} is a symlink: not read")
        if target.exists():
            return target.read_bytes()
        errors.append(f"{host}: {outcome.describe() if not outcome.ok else 'no such file'}")
        if not outcome.unreachable:
            break  # the host answered: the file is not there
    raise ControllerError(f"job {job.ref}: cannot fetch {filename}: " + "; ".join(errors))
