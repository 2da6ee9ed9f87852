"""Find a runner by name: built-ins imported lazily, plugins by entry point.

Lazy imports keep the agent's start fast: a poll of background jobs never
imports the Slurm module. Host-side: standard library only, Python 3.8+.
"""

from __future__ import annotations

import importlib

from .base import Runner, RunnerOptions

TYPE_CHECKING = False  # importing typing costs the agent 4 ms of start: names for mypy only
if TYPE_CHECKING:
    from typing import Any, Dict, Optional, Type

ENTRY_POINT_GROUP = "jobrelay.runners"

BUILTIN: Dict[str, str] = {
    "background": "jobrelay.runners.background:BackgroundRunner",
    "at": "jobrelay.runners.at:AtRunner",
    "slurm": "jobrelay.runners.slurm:SlurmRunner",
    "pbs": "jobrelay.runners.pbs:PbsRunner",
    "torque": "jobrelay.runners.pbs:TorqueRunner",
    "lsf": "jobrelay.runners.lsf:LsfRunner",
    "sge": "jobrelay.runners.sge:SgeRunner",
}


class RunnerLoadError(Exception):
    """A runner name that is neither built in nor a loadable plugin."""


_found: Dict[str, Type[Runner]] = {}  # the controller asks per job, a thousand at a time


def runner_class(name: str) -> Type[Runner]:
    known = _found.get(name)
    if known is not None:
        return known
    target = BUILTIN.get(name)
    if target is not None:
        module_name, _, attr = target.partition(":")
        cls = getattr(importlib.import_module(module_name), attr)
    else:
        cls = _plugin(name)
    if not (isinstance(cls, type) and issubclass(cls, Runner)):
        raise RunnerLoadError(f"runner {name!r}: {cls!r} is not a jobrelay Runner subclass")
    _found[name] = cls
    return cls


def make_runner(name: str, options: Optional[RunnerOptions] = None) -> Runner:
    return runner_class(name)(options)


def _plugin(name: str) -> object:
    from importlib import metadata

    try:
        eps: Any = metadata.entry_points()
        # .select() is 3.10+; 3.8/3.9 return a dict of group -> entry points
        group = (
            eps.select(group=ENTRY_POINT_GROUP)
            if hasattr(eps, "select")
            else eps.get(ENTRY_POINT_GROUP, [])
        )
    except Exception as exc:  # a broken installation must not hide which name failed
        raise RunnerLoadError(f"runner {name!r}: cannot list plugins: {exc}") from exc
    for ep in group:
        if ep.name == name:
            try:
                return ep.load()
            except Exception as exc:
                raise RunnerLoadError(
                    f"runner plugin {name!r} ({ep.value}) failed to load: "
                    f"{type(exc).__name__}: {exc}"
                ) from exc
    known = ", ".join(sorted(BUILTIN))
    raise RunnerLoadError(f"unknown runner {name!r} (built in: {known}; no plugin of that name)")
