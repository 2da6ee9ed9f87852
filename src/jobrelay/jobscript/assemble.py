"""Assemble the ``job`` file: runner header, job identity, environment, wrapper.

The job file is what the runner is given. It holds, in order: the shebang,
the runner's header lines (``#SBATCH`` and the like must come first), the
job's reference and name as comments, the exported environment, the bash
wrapper (status/wrapper.sh, inlined) and the call to it. The user's script
is a separate file, ``job.script``, run by the wrapper.

Host-side: standard library only, Python 3.8+.
"""

from __future__ import annotations

import contextlib
import os
import re
from functools import lru_cache

from ..host_dataclasses import dataclass, field
from ..status import keys
from .quoting import bash_quote

TYPE_CHECKING = False  # importing typing costs the agent 4 ms of start: names for mypy only
if TYPE_CHECKING:
    from typing import Mapping, Sequence, Tuple

ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
#: set by the job file itself, so spec.env may not override them
RESERVED_ENV = frozenset({"JOBRELAY_JOB_DIR", "JOBRELAY_JOB_REF", "JOBRELAY_JOB_NAME"})
#: bash refuses to assign these (readonly or special): exporting them breaks the job
BASH_READONLY = frozenset({"BASHOPTS", "BASH_VERSINFO", "EUID", "PPID", "SHELLOPTS", "UID"})


@dataclass(frozen=True)
class JobSpec:
    job_ref: str
    name: str
    job_dir: str  # absolute path on the job host
    runner_header: Sequence[str] = ()
    env: Mapping[str, str] = field(default_factory=dict)


@lru_cache(maxsize=1)
def wrapper_text() -> str:
    """The bash wrapper, read as package data through the package's loader, as
    ``pkgutil.get_data`` does (works from a zipapp too) without importing
    pkgutil and its company at each one-shot submit."""
    from .. import status

    loader = getattr(status.__spec__, "loader", None)
    if not hasattr(loader, "get_data") or not status.__file__:  # pragma: no cover
        raise RuntimeError("jobrelay.status: wrapper.sh not found in the package")
    path = os.path.join(os.path.dirname(status.__file__), "wrapper.sh")
    data: bytes = loader.get_data(path)  # type: ignore[union-attr]
    return data.decode("utf-8")


def check_spec(spec: JobSpec) -> None:
    """Refuse what would make a broken or unsafe job file (ValueError)."""
    if not os.path.isabs(spec.job_dir):
        raise ValueError(f"job dir must be an absolute path: {spec.job_dir!r}")
    for line in spec.runner_header:
        if "\n" in line or "\r" in line or "\0" in line:
            raise ValueError(f"runner header line holds a line break: {line!r}")
    for name in spec.env:
        if not ENV_NAME.match(name):
            raise ValueError(f"not an environment variable name: {name!r}")
        if name in RESERVED_ENV or name in BASH_READONLY:
            raise ValueError(f"environment variable {name} cannot be set for a job")
    for name, value in spec.env.items():
        if "\0" in value:
            raise ValueError(f"environment variable {name}: value holds a NUL character")
    if "\0" in spec.name or "\0" in spec.job_ref:
        raise ValueError("job name and reference cannot hold NUL characters")


def assemble(spec: JobSpec) -> str:
    """The text of the ``job`` file for ``spec``."""
    check_spec(spec)
    lines = ["#!/bin/bash"]
    lines.extend(spec.runner_header)
    lines.append(f"# jobrelay job {bash_quote(spec.job_ref)}")
    lines.append(f"# name {bash_quote(spec.name)}")
    exports: Tuple[Tuple[str, str], ...] = (
        ("JOBRELAY_JOB_DIR", spec.job_dir),
        ("JOBRELAY_JOB_REF", spec.job_ref),
        ("JOBRELAY_JOB_NAME", spec.name),
        *sorted(spec.env.items()),
    )
    lines.extend(f"export {name}={bash_quote(value)}" for name, value in exports)
    lines.append(wrapper_text().rstrip("\n"))
    lines.append("jobrelay_main")
    return "\n".join(lines) + "\n"


def write_job_files(job_dir: str, job_text: str, script_text: str) -> None:
    """Write ``job.script`` then ``job`` (mode 0700), each whole or not at all.

    Each goes to a temporary name in the job dir and is renamed into place, so
    no reader (a runner, a job) ever sees half a script (Cylc #949), and a
    killed writer leaves the old file or the new one. There is no fsync: it
    guards only against power loss, after which the job is gone anyway
    (background) or the scheduler already holds its own copy (Slurm, PBS,
    LSF copy the script at submit), and it cost 3 ms per job here.
    """
    _write_atomically(os.path.join(job_dir, keys.SCRIPT_FILE), script_text)
    _write_atomically(os.path.join(job_dir, keys.JOB_FILE), job_text)


def _write_atomically(path: str, text: str) -> None:
    tmp = f"{path}.tmp{os.getpid()}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o700)
    try:
        os.fchmod(fd, 0o700)  # whatever the umask
        data = _encode(text)
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
    except BaseException:
        os.close(fd)
        _unlink_quietly(tmp)
        raise
    os.close(fd)
    os.replace(tmp, path)


def _unlink_quietly(path: str) -> None:
    with contextlib.suppress(OSError):
        os.unlink(path)


def _encode(text: str) -> bytes:
    try:
        return text.encode("utf-8", errors="surrogateescape")
    except UnicodeEncodeError:
        return text.encode("utf-8", errors="surrogatepass")
