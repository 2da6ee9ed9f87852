"""Dataclasses for host-side modules, with a fast stand-in inside the agent.

The agent is started once per batch, so its start is a hot path. Importing
the standard ``dataclasses`` costs about 10 ms (it imports ``inspect``, which
imports ``ast``, ``dis``, ``tokenize``...) and every class it builds compiles
several methods with ``exec``: a third of the agent's start. Inside the agent
(the zipapp's entry calls ``use_light()`` before any other import) the classes
are built by ``light_dataclasses`` instead, with the same constructor, ``repr``,
equality, hashing and frozenness for the subset the host side uses. Everywhere
else (the controller, the tests) these names are the standard ones, so
``dataclasses.replace`` and friends keep working on these types there.

Type checkers see the standard module (the ``TYPE_CHECKING`` branch).

Host-side: standard library only, Python 3.8+.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from dataclasses import asdict as asdict
    from dataclasses import dataclass as dataclass
    from dataclasses import field as field
    from dataclasses import fields as fields
    from dataclasses import replace as replace

    def use_light() -> None: ...
else:
    _LIGHT = []  # non-empty: build with the stand-in

    def use_light():
        """Build classes with the stand-in from now on (the agent's entry only)."""
        _LIGHT.append(True)

    def _impl(obj=None):
        if hasattr(obj, "__light_fields__") if obj is not None else _LIGHT:
            from . import light_dataclasses as module
        else:
            import dataclasses as module
        return module

    def dataclass(cls=None, *, frozen=False):
        return _impl().dataclass(cls, frozen=frozen)

    def field(**kwargs):
        return _impl().field(**kwargs)

    def asdict(obj):
        return _impl(obj).asdict(obj)

    def fields(obj):
        return _impl(obj).fields(obj)

    def replace(obj, **changes):
        return _impl(obj).replace(obj, **changes)
