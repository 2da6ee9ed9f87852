"""A PSI/J ``JobSpec`` as a jobrelay submission: the script, its directives, its environment.

Pure: no I/O. What jobrelay cannot honour is refused with
``InvalidJobException`` naming the job and the cause, before any host is
contacted.
"""

from __future__ import annotations

import math
import shlex
from pathlib import Path
from typing import Any

from psij import InvalidJobException, Job, JobSpec, ResourceSpecV1

from ..host_dataclasses import dataclass, field

#: custom attributes under this prefix are jobrelay's (``jobrelay.memory``,
#: ``jobrelay.raw``, ``jobrelay.run``); other prefixes belong to other executors
PREFIX = "jobrelay."
#: launchers that start the executable once, as jobrelay does
SINGLE_LAUNCHERS = (None, "single")
DEFAULT_RUN = "psij"
_MIB = 1024 * 1024


@dataclass(frozen=True)
class Submission:
    """What ``Controller.submit`` is given for one PSI/J job."""

    name: str
    run: str
    script: str
    directives: dict[str, Any] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)


def translate(job: Job) -> Submission:
    spec = job.spec
    if spec is None or not spec.executable:
        raise InvalidJobException(f"job {job.id}: no executable")
    if spec.launcher not in SINGLE_LAUNCHERS:
        raise InvalidJobException(
            f"job {job.id}: launcher {spec.launcher!r}: the jobrelay executor starts the"
            " executable once (launcher 'single')"
        )
    directives = _attributes(job, spec)
    directives.update(_resources(job, spec))
    custom = {
        k[len(PREFIX) :]: v
        for k, v in (spec.attributes.custom_attributes or {}).items()
        if k.startswith(PREFIX)
    }
    run = str(custom.pop("run", DEFAULT_RUN))
    directives.update(custom)  # the schema checks them at submit, naming the job
    env = {k: str(v) for k, v in (spec.environment or {}).items()}
    name = spec.name or spec.executable
    if name == spec.executable:  # PSI/J's default name: the executable's path
        name = Path(name).name or "psij"
    return Submission(name, run, script_text(spec), directives, env)


def script_text(spec: JobSpec) -> str:
    """The bash script the wrapper runs: cd, pre-launch, the executable with its
    redirections, post-launch; the executable's exit status is the job's."""
    q = shlex.quote
    assert spec.executable is not None  # translate() checked
    lines = ["#!/bin/bash", "# a PSI/J job, written by jobrelay's PSI/J executor"]
    if spec.directory is not None:
        lines.append(f"cd -- {q(str(spec.directory))} || exit 1")
    if spec.pre_launch is not None:
        lines.append(f"source {q(str(spec.pre_launch))} || exit 1")
    command = [q(spec.executable), *(q(str(a)) for a in spec.arguments or [])]
    if not spec.inherit_environment:
        given = [q(f"{k}={v}") for k, v in (spec.environment or {}).items()]
        command = ["env", "-i", *given, *command]
    for sign, path in (("<", spec.stdin_path), (">", spec.stdout_path), ("2>", spec.stderr_path)):
        if path is not None:
            command.append(f"{sign}{q(str(path))}")
    lines.append(" ".join(command))
    lines.append("psij_rc=$?")
    if spec.post_launch is not None:
        lines.append(f"source {q(str(spec.post_launch))}")
    lines.append("exit $psij_rc")
    return "\n".join(lines) + "\n"


def _attributes(job: Job, spec: JobSpec) -> dict[str, Any]:
    attrs = spec.attributes
    out: dict[str, Any] = {}
    if attrs.duration is not None:
        out["time_limit"] = max(1, math.ceil(attrs.duration.total_seconds()))
    if attrs.queue_name:
        out["queue"] = attrs.queue_name
    if attrs.account:  # project_name is PSI/J's deprecated name for it
        out["account"] = attrs.account
    if attrs.reservation_id:
        raise InvalidJobException(
            f"job {job.id}: reservation_id has no portable jobrelay form; give the runner's"
            " own line in the custom attribute 'jobrelay.raw'"
        )
    return out


def _resources(job: Job, spec: JobSpec) -> dict[str, Any]:
    res = spec.resources
    if res is None:
        return {}
    if not isinstance(res, ResourceSpecV1):
        raise InvalidJobException(f"job {job.id}: resource spec version {res.version} unknown")
    if res.gpu_cores_per_process:
        raise InvalidJobException(f"job {job.id}: GPUs have no portable jobrelay form")
    if res.exclusive_node_use:
        raise InvalidJobException(
            f"job {job.id}: exclusive node use has no portable jobrelay form;"
            " give the runner's own line in the custom attribute 'jobrelay.raw'"
        )
    out: dict[str, Any] = {}
    if res.computed_node_count > 1:
        out["nodes"] = res.computed_node_count
    if res.cpu_cores_per_process:
        out["cpus"] = res.cpu_cores_per_process
    if res.memory:
        out["memory"] = max(1, math.ceil(res.memory / _MIB))
    return out
