"""The agent's stand-in for ``dataclasses`` (see ``host_dataclasses``).

It never imports ``inspect`` (and ``ast``, ``dis``, ``tokenize`` with it). A
class's first few instances are built by a generic constructor; a class that
goes on making instances gets one compiled with ``exec`` from its own field
names. ``repr``, equality and hashing are shared functions.

Supported: ``@dataclass`` and ``@dataclass(frozen=True)`` on classes whose
annotations are strings (``from __future__ import annotations``), defaults,
``field(default=..., default_factory=...)``, ``ClassVar`` annotations (not
fields), ``__post_init__``; ``asdict``, ``fields``, ``replace``. Semantics
follow the standard module: positional-or-keyword constructor in field
order, ``repr`` of the fields, equality between instances of the same class,
a field hash for frozen classes (unhashable otherwise).

Host-side: standard library only, Python 3.8+.
"""

from __future__ import annotations

from operator import attrgetter

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable, Dict, Optional, Tuple

MISSING = object()


class FrozenInstanceError(AttributeError):
    """Assignment to a field of a frozen instance."""


class Field:
    __slots__ = ("default", "default_factory", "name")

    def __init__(self, default: Any = MISSING, default_factory: Any = MISSING) -> None:
        self.name = ""
        self.default = default
        self.default_factory = default_factory

    def __repr__(self) -> str:
        return f"Field(name={self.name!r})"


def field(*, default: Any = MISSING, default_factory: Any = MISSING) -> Any:
    if default is not MISSING and default_factory is not MISSING:
        raise ValueError("cannot specify both default and default_factory")
    return Field(default, default_factory)


def _is_classvar(annotation: Any) -> bool:
    text: str = annotation if isinstance(annotation, str) else getattr(annotation, "__name__", "")
    return text.startswith(("ClassVar", "typing.ClassVar"))


def _collect(cls: type) -> Tuple[Field, ...]:
    found: Dict[str, Field] = {}
    for base in reversed(cls.__mro__[1:]):
        for f in getattr(base, "__light_fields__", ()):
            found[f.name] = f
    # The class body's own annotations (inspect.get_annotations is 3.10+).
    own = cls.__dict__.get("__annotations__", {})  # noqa: RUF063
    for name, annotation in own.items():
        if _is_classvar(annotation):
            continue
        value = cls.__dict__.get(name, MISSING)
        if isinstance(value, Field):
            f = value
            if f.default is MISSING:
                delattr(cls, name)
            else:
                setattr(cls, name, f.default)
        else:
            f = Field(default=value)
        f.name = name
        found[name] = f
    result = tuple(found.values())
    seen_default = False
    for f in result:
        has_default = f.default is not MISSING or f.default_factory is not MISSING
        if seen_default and not has_default:
            raise TypeError(f"non-default argument {f.name!r} follows default argument")
        seen_default = seen_default or has_default
    return result


def _make_init(
    flds: Tuple[Field, ...], names: frozenset[str], post_init: Optional[Callable[[Any], None]]
) -> Callable[..., None]:
    """An ``__init__`` written for these fields (one small compile per class).

    A generic ``*args, **kwargs`` loop cost about 8 µs per instance, and the
    agent builds several per job: a thousand-job poll spent 40 ms here.
    """
    env: Dict[str, Any] = {"_set": object.__setattr__, "_MISSING": MISSING, "_post": post_init}
    params, body = ["self"], []
    for i, f in enumerate(flds):
        if f.default_factory is not MISSING:
            env[f"_factory{i}"] = f.default_factory
            params.append(f"{f.name}=_MISSING")
            body.append(f"if {f.name} is _MISSING: {f.name} = _factory{i}()")
        elif f.default is not MISSING:
            env[f"_default{i}"] = f.default
            params.append(f"{f.name}=_default{i}")
        else:
            params.append(f.name)
        body.append(f"_set(self, {f.name!r}, {f.name})")
    if post_init is not None:
        body.append("_post(self)")
    source = f"def __init__({', '.join(params)}):\n    " + "\n    ".join(body or ["pass"])
    exec(source, env)  # noqa: S102 (field names are the class's own identifiers)
    init: Callable[..., None] = env["__init__"]
    return init


COMPILE_AFTER = 8  # instances a class makes before its __init__ is compiled


def _generic_init(
    flds: Tuple[Field, ...], names: frozenset[str], post_init: Optional[Callable[[Any], None]]
) -> Callable[..., None]:
    """The constructor's semantics without a compile: binds as the compiled one
    does (positional in field order, then keywords, then defaults), and raises
    TypeError where it would. About 8 µs an instance."""
    count = len(flds)

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        if len(args) > count:
            raise TypeError(
                f"__init__() takes {count + 1} positional arguments but {len(args) + 1} were given"
            )
        unknown = kwargs.keys() - names
        if unknown:
            raise TypeError(f"__init__() got an unexpected keyword argument {min(unknown)!r}")
        for i, value in enumerate(args):  # zip(strict=) is 3.10+: the host side is 3.8+
            f = flds[i]
            if f.name in kwargs:
                raise TypeError(f"__init__() got multiple values for argument {f.name!r}")
            object.__setattr__(self, f.name, value)
        for f in flds[len(args) :]:
            if f.name in kwargs:
                value = kwargs[f.name]
            elif f.default is not MISSING:
                value = f.default
            elif f.default_factory is not MISSING:
                value = f.default_factory()
            else:
                raise TypeError(f"__init__() missing required argument: {f.name!r}")
            object.__setattr__(self, f.name, value)
        if post_init is not None:
            post_init(self)

    return __init__


def _lazy_init(
    owner: Any,
    flds: Tuple[Field, ...],
    names: frozenset[str],
    post_init: Optional[Callable[[Any], None]],
) -> Callable[..., None]:
    """A class's first instances are built by the generic constructor, and the
    compiled one (about 0.2 ms to write) replaces it at the ``COMPILE_AFTER``th:
    a one-shot command makes a few instances each of twenty-odd classes (the
    compiles were 4 ms of ``jobrelay status``), an agent polling a thousand
    jobs makes thousands of a few."""
    generic = _generic_init(flds, names, post_init)
    made = [0]

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        made[0] += 1
        if made[0] >= COMPILE_AFTER:
            owner.__init__ = _make_init(flds, names, post_init)
        generic(self, *args, **kwargs)

    return __init__


def _values(obj: Any) -> Tuple[Any, ...]:
    # one C call (a tuple even for one field): a serving agent compares a
    # thousand replies per poll
    return obj.__light_values__(obj)  # type: ignore[no-any-return]


def _repr(self: Any) -> str:
    inner = ", ".join(f"{f.name}={getattr(self, f.name)!r}" for f in self.__light_fields__)
    return f"{type(self).__qualname__}({inner})"


def _eq(self: Any, other: Any) -> Any:
    if other.__class__ is self.__class__:
        return _values(self) == _values(other)
    return NotImplemented


def _hash(self: Any) -> int:
    return hash(_values(self))


def _frozen_setattr(self: Any, name: str, value: Any) -> None:
    raise FrozenInstanceError(f"cannot assign to field {name!r}")


def _frozen_delattr(self: Any, name: str) -> None:
    raise FrozenInstanceError(f"cannot delete field {name!r}")


def _process(cls: Any, frozen: bool) -> Any:
    flds = _collect(cls)
    names = frozenset(f.name for f in flds)
    cls.__light_fields__ = flds
    getter = attrgetter(*(f.name for f in flds)) if flds else (lambda obj: ())
    cls.__light_values__ = staticmethod(getter if len(flds) != 1 else lambda obj: (getter(obj),))
    cls.__init__ = _lazy_init(cls, flds, names, getattr(cls, "__post_init__", None))
    if "__repr__" not in cls.__dict__:
        cls.__repr__ = _repr
    if "__eq__" not in cls.__dict__:
        cls.__eq__ = _eq
    # Hashing as the standard module decides it for eq=True: a field hash
    # when frozen, unhashable when mutable, unless the class defines __hash__.
    explicit_hash = cls.__dict__.get("__hash__", None) is not None
    if frozen:
        cls.__setattr__ = _frozen_setattr
        cls.__delattr__ = _frozen_delattr
        if not explicit_hash:
            cls.__hash__ = _hash
    elif not explicit_hash:
        cls.__hash__ = None
    return cls


def dataclass(cls: Any = None, *, frozen: bool = False) -> Any:
    def wrap(klass: Any) -> Any:
        return _process(klass, frozen)

    return wrap if cls is None else wrap(cls)


def fields(obj: Any) -> Tuple[Field, ...]:
    found: Tuple[Field, ...] = obj.__light_fields__
    return found


def _plain(value: Any) -> Any:
    if hasattr(type(value), "__light_fields__"):
        return {f.name: _plain(getattr(value, f.name)) for f in value.__light_fields__}
    if isinstance(value, (list, tuple)):
        return type(value)(_plain(v) for v in value)
    if isinstance(value, dict):
        return type(value)((_plain(k), _plain(v)) for k, v in value.items())
    return value


def asdict(obj: Any) -> Any:
    if not hasattr(type(obj), "__light_fields__"):
        raise TypeError("asdict() should be called on dataclass instances")
    return _plain(obj)


def replace(obj: Any, **changes: Any) -> Any:
    for f in obj.__light_fields__:
        if f.name not in changes:
            changes[f.name] = getattr(obj, f.name)
    return type(obj)(**changes)
