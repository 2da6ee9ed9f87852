"""The agent's dataclass stand-in (jobrelay.light_dataclasses) behaves as the standard module.

Each host-side record class is built twice, once by each implementation, from
the same class body; instances must agree on construction, defaults, repr,
equality, hashing, frozenness, asdict, fields and replace.
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar, Dict, List, Mapping, Optional

import pytest

from jobrelay import light_dataclasses as light


def _bodies() -> Any:
    class Inner:
        a: int
        b: str = "x"

    class Outer:
        KIND: ClassVar[str] = "outer"
        name: str
        inner: Optional[Inner] = None
        items: List[int] = dataclasses.field(default_factory=list)
        env: Mapping[str, str] = dataclasses.field(default_factory=dict)
        flag: bool = False

    return Inner, Outer


def _build(impl: Any, frozen: bool) -> Any:
    inner_body, outer_body = _bodies()
    ns: Dict[str, Any] = {}
    for body in (inner_body, outer_body):
        attrs = {k: v for k, v in body.__dict__.items() if k not in ("__dict__", "__weakref__")}
        if impl is light:
            attrs = {
                k: (
                    light.field(default_factory=v.default_factory)
                    if isinstance(v, dataclasses.Field)
                    else v
                )
                for k, v in attrs.items()
            }
        ns[body.__name__] = impl.dataclass(frozen=frozen)(type(body.__name__, (), attrs))
    return ns["Inner"], ns["Outer"]


@pytest.mark.parametrize("compiled", [False, True], ids=["generic-init", "compiled-init"])
@pytest.mark.parametrize("frozen", [True, False])
def test_same_behaviour(frozen: bool, compiled: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    if not compiled:  # every instance below through the generic constructor
        monkeypatch.setattr(light, "COMPILE_AFTER", 10**9)
    std = _build(dataclasses, frozen)
    lit = _build(light, frozen)
    generic_init = lit[1].__init__
    if compiled:  # past the first instances, the class's own compiled __init__
        for _ in range(light.COMPILE_AFTER):
            lit[0](0)
            lit[1]("warm")
    results = []
    for impl, (inner, outer) in ((dataclasses, std), (light, lit)):
        one = outer("n", inner(1), [1, 2], {"K": "v"})
        two = outer(name="n", inner=inner(a=1), items=[1, 2], env={"K": "v"})
        bare = outer("m")
        assert bare.items == [] and bare.items is not outer("m").items
        assert outer.KIND == "outer"
        with pytest.raises(TypeError):
            outer()
        with pytest.raises(TypeError):
            outer("n", nope=1)
        with pytest.raises(TypeError):
            outer("n", name="n")
        if frozen:
            with pytest.raises(AttributeError):
                one.name = "z"
            hashed: Any = hash(inner(1)) == hash(inner(1))
        else:
            one.flag = True
            one.flag = False
            with pytest.raises(TypeError):
                hash(one)
            hashed = "unhashable"
        changed = impl.replace(one, name="r")
        results.append(
            (
                one == two,
                one == bare,
                one == ("n",),
                repr(one).replace("_build.<locals>.", ""),
                impl.asdict(one),
                [f.name for f in impl.fields(one)],
                hashed,
                impl.asdict(changed),
            )
        )
    assert (lit[1].__init__ is generic_init) is not compiled
    assert results[0] == results[1]
    assert results[0][0] is True and results[0][1] is False


def test_non_default_after_default_is_refused() -> None:
    with pytest.raises(TypeError):
        light.dataclass(type("Bad", (), {"__annotations__": {"a": "int", "b": "int"}, "a": 1}))


@pytest.mark.parametrize("compile_after", [1, 10**9], ids=["compiled-init", "generic-init"])
def test_post_init_runs_after_the_fields(
    compile_after: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(light, "COMPILE_AFTER", compile_after)

    def check(self: Any) -> None:
        if self.low > self.high:
            raise ValueError(f"low {self.low} above high {self.high}")

    span = light.dataclass(frozen=True)(
        type(
            "Span",
            (),
            {"__annotations__": {"low": "int", "high": "int"}, "high": 10, "__post_init__": check},
        )
    )
    assert (span(3).low, span(3).high) == (3, 10)
    with pytest.raises(ValueError, match="low 11 above high 10"):
        span(11)
    with pytest.raises(ValueError, match="low 5 above high 4"):
        span(high=4, low=5)
