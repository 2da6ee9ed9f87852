"""The one directive schema: each portable directive's name, type, unit and limits.

``SCHEMA`` is the table. Every way directives arrive is read through it:
``jobrelay submit -d KEY=VALUE`` (text), ``--jobs`` JSON lines, TOML
``directives`` tables and the library (typed values), all by
``read_directives``; the agent's wire (the ``Directives`` field names) by
``from_wire``. A reader reports every problem at once (``DirectiveError``),
each naming the key as it was written. Runners get checked ``Directives``.

Host-side: standard library only, Python 3.8+.
"""

from __future__ import annotations

import re

from ..host_dataclasses import dataclass
from .directive_text import LINE_UNSAFE, directive_token

TYPE_CHECKING = False  # importing typing costs the agent 4 ms of start: names for mypy only
if TYPE_CHECKING:
    from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple


@dataclass(frozen=True)
class Directives:
    """Portable job resources, checked; each runner translates them, ``raw`` passes through."""

    time_limit: Optional[int] = None  # seconds
    cpus: Optional[int] = None
    nodes: Optional[int] = None
    memory_mb: Optional[int] = None
    queue: Optional[str] = None  # queue or partition
    account: Optional[str] = None
    job_name: Optional[str] = None
    raw: Tuple[str, ...] = ()  # native directive lines, written as given

    def to_wire(self) -> Dict[str, Any]:
        """The fields that are set, as the agent protocol and the ledger carry them."""
        out: Dict[str, Any] = {}
        for name in FIELD_NAMES:
            value = getattr(self, name)
            if value is not None and value != ():
                out[name] = list(value) if name == "raw" else value
        return out


FIELD_NAMES = ("time_limit", "cpus", "nodes", "memory_mb", "queue", "account", "job_name", "raw")


def merge(defaults: Directives, job: Directives) -> Directives:
    """``job``'s directives over ``defaults``, field by field: a field the job
    sets wins (``raw`` as a whole: the job's lines replace the defaults')."""
    values = {}
    for name in FIELD_NAMES:
        mine = getattr(job, name)
        values[name] = getattr(defaults, name) if mine is None or mine == () else mine
    return Directives(**values)


@dataclass(frozen=True)
class DirectiveProblem:
    key: str  # as the user wrote it ("partition", "memory"), or the wire field name
    message: str

    def __str__(self) -> str:
        return f"{self.key}: {self.message}"


class DirectiveError(ValueError):
    """Directives that cannot be used; ``problems`` lists every one found."""

    def __init__(self, problems: Sequence[DirectiveProblem]) -> None:
        self.problems = tuple(problems)
        super().__init__("; ".join(str(p) for p in self.problems))


# ---------------------------------------------------------------- value readers
# Each reads one value (``text``: it came from a command line, every value is a
# string) into its checked form, or raises ValueError saying what is accepted.

DURATION_FORMS = 'seconds (int), "HH:MM:SS", "D-HH:MM:SS" or units like "30m", "1h30m", "2d"'
MEMORY_FORMS = 'megabytes (int) or a size like "500M", "4G", "1T", "2048K"'
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
# patterns, compiled at their first use (re keeps them): a one-shot `status` parses
# no directive value and compiles none
_UNITS_RE = r"(\d+)([smhd])"
_CLOCK_RE = r"(?:(\d+)-)?(\d+):(\d{1,2}):(\d{1,2})"
_DIGITS_RE = r"[0-9]+"
_MEMORY_RE = r"(?i)([0-9]+)\s*([KMGT]?)(?:i?B)?"
_MEMORY_FACTOR_KB = {"K": 1, "": 1024, "M": 1024, "G": 1024**2, "T": 1024**3}


def parse_duration(value: object, text: bool = False) -> int:
    """Seconds from an int or a string; the result is > 0.

    >>> parse_duration("1:30:00"), parse_duration("30m"), parse_duration("90")
    (5400, 1800, 90)
    """
    return _amount(value, DURATION_FORMS, _duration_text, " seconds")


def _duration_text(text: str) -> int:
    if re.fullmatch(_DIGITS_RE, text):
        return int(text)  # plain seconds, as an int would say
    clock = re.fullmatch(_CLOCK_RE, text)
    if clock:
        days, hours, minutes, secs = clock.groups()
        if int(minutes) > 59 or int(secs) > 59:
            raise ValueError(f"minutes and seconds must be below 60 in {text!r}")
        return int(days or 0) * 86400 + int(hours) * 3600 + int(minutes) * 60 + int(secs)
    if text and re.sub(_UNITS_RE, "", text) == "":
        return sum(int(n) * _UNIT_SECONDS[u] for n, u in re.findall(_UNITS_RE, text))
    raise ValueError(f"cannot read {text!r} as a duration: use {DURATION_FORMS}")


def parse_memory_mb(value: object, text: bool = False) -> int:
    """Megabytes (rounded up) from an int (MB) or a size string; the result is > 0.

    >>> parse_memory_mb("4G"), parse_memory_mb("500M"), parse_memory_mb("1500K")
    (4096, 500, 2)
    """
    return _amount(value, MEMORY_FORMS, _memory_text, "")


def _memory_text(text: str) -> int:
    match = re.fullmatch(_MEMORY_RE, text)
    if not match:
        raise ValueError(f"cannot read {text!r} as a memory size: use {MEMORY_FORMS}")
    kilobytes = int(match.group(1)) * _MEMORY_FACTOR_KB[match.group(2).upper()]
    return -(-kilobytes // 1024)  # round up: never ask for less than was written


def _amount(value: object, forms: str, read_text: Callable[[str], int], unit: str) -> int:
    """An int as it is, or a string read by ``read_text``; more than 0."""
    if isinstance(value, bool):
        raise ValueError(f"expected {forms}, got a boolean")
    if isinstance(value, int):
        amount = value
    elif isinstance(value, str):
        amount = read_text(value.strip())
    else:
        raise ValueError(f"expected {forms}, got {type(value).__name__}")
    if amount <= 0:
        raise ValueError(f"must be more than 0{unit}, got {value!r}")
    return amount


def _count(value: object, text: bool) -> int:
    """A whole number >= 1 (cpus, nodes)."""
    if text and isinstance(value, str) and re.fullmatch(_DIGITS_RE, value.strip()):
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"must be an integer of at least 1, got {_shown(value)}")
    if value < 1:
        raise ValueError(f"must be at least 1, got {value}")
    return value


def _token(value: object, text: bool) -> str:
    """One plain word (queue, account): it goes into a directive line unquoted."""
    if not isinstance(value, str):
        raise ValueError(f"must be a string, got {_shown(value)}")
    if not value:
        raise ValueError("must not be empty")
    try:
        directive_token(value)
    except ValueError:
        raise ValueError(
            f"{value!r} is not one plain word (letters, digits and _ . , : @ % + = / -)"
        ) from None
    if value.startswith("-"):
        raise ValueError(f"{value!r} must not start with '-' (it would read as an option)")
    return value


def _name(value: object, text: bool) -> str:
    """Any text (the job name): each runner reduces it to the characters it allows."""
    if not isinstance(value, str):
        raise ValueError(f"must be a string, got {_shown(value)}")
    if not value.strip():
        raise ValueError("must not be empty")
    return value


def _lines(value: object, text: bool) -> Tuple[str, ...]:
    """Native directive lines, written as given: one line each, no control characters."""
    if isinstance(value, str) or not isinstance(value, (list, tuple)):
        raise ValueError(f"must be a list of lines, got {_shown(value)}")
    for n, line in enumerate(value, 1):
        if not isinstance(line, str):
            raise ValueError(f"line {n} must be a string, got {_shown(line)}")
        if re.search(LINE_UNSAFE, line):
            raise ValueError(f"line {n} {line!r} holds a newline or another control character")
    return tuple(value)


def _shown(value: object) -> str:
    if isinstance(value, str):
        return f"the string {value!r}"
    if isinstance(value, bool):
        return f"a boolean ({str(value).lower()})"
    if isinstance(value, (list, tuple)):
        return "a list"
    if isinstance(value, dict):
        return "a table"
    return f"{type(value).__name__} {value!r}"


class DirectiveSpec:
    """One row of the schema: the name users write, the field it fills, its reader."""

    __slots__ = ("field", "forms", "key", "read")

    def __init__(
        self, key: str, field: str, read: Callable[[object, bool], object], forms: str
    ) -> None:
        self.key = key
        self.field = field
        self.read = read
        self.forms = forms  # what the docs and `jobrelay submit --help` say is accepted


SCHEMA: Tuple[DirectiveSpec, ...] = (
    DirectiveSpec("time_limit", "time_limit", parse_duration, DURATION_FORMS),
    DirectiveSpec("cpus", "cpus", _count, "integer >= 1"),
    DirectiveSpec("nodes", "nodes", _count, "integer >= 1"),
    DirectiveSpec("memory", "memory_mb", parse_memory_mb, MEMORY_FORMS),
    DirectiveSpec("queue", "queue", _token, "one plain word"),
    DirectiveSpec("partition", "queue", _token, "one plain word (the same as queue)"),
    DirectiveSpec("account", "account", _token, "one plain word"),
    DirectiveSpec("job_name", "job_name", _name, "any text (each runner keeps what it allows)"),
    DirectiveSpec("raw", "raw", _lines, "list of native lines, no newlines"),
)
BY_KEY: Dict[str, DirectiveSpec] = {s.key: s for s in SCHEMA}
#: the wire's names: the fields, each read by its first (main) row
BY_FIELD: Dict[str, DirectiveSpec] = {s.field: s for s in reversed(SCHEMA)}
KEYS = tuple(sorted(BY_KEY))


def user_key(field: str) -> str:
    """The name users write for a field (``memory_mb`` -> ``memory``)."""
    return BY_FIELD[field].key


def read_directives(values: Mapping[str, object], text: bool = False) -> Directives:
    """Directives from user names (``memory``, ``partition``...), or DirectiveError
    naming every problem. ``text``: the values are command-line strings
    (``cpus="4"`` is 4). A key given as None is not given."""
    return _complete(*read_partly(values, text))


def read_partly(
    values: Mapping[str, object], text: bool = False
) -> Tuple[Directives, List[DirectiveProblem]]:
    """Like ``read_directives``, but the keys that could be read, and the problems
    of the others (a caller that reports more than one source at once)."""
    return _read(values, BY_KEY, text)


def from_wire(values: Mapping[str, object]) -> Directives:
    """Directives from the agent protocol's field names (``memory_mb``), checked again."""
    return _complete(*_read(values, BY_FIELD, False))


def check(directives: Directives) -> Directives:
    """``directives`` if every value keeps the schema's rules, else DirectiveError
    naming the user's keys (a ``Directives`` built by hand is not checked by its
    constructor)."""
    found, problems = _read(directives.to_wire(), BY_FIELD, False)
    _complete(found, [DirectiveProblem(user_key(p.key), p.message) for p in problems])
    return directives


def _complete(found: Directives, problems: Sequence[DirectiveProblem]) -> Directives:
    if problems:
        raise DirectiveError(problems)
    return found


def _read(
    values: Mapping[str, object], table: Mapping[str, DirectiveSpec], text: bool
) -> Tuple[Directives, List[DirectiveProblem]]:
    problems: List[DirectiveProblem] = []
    found: Dict[str, Any] = {}
    given: Dict[str, str] = {}  # field -> the key that set it
    for key, value in values.items():
        spec = table.get(key) if isinstance(key, str) else None
        if spec is None:
            problems.append(DirectiveProblem(str(key), _unknown(str(key), table)))
            continue
        if value is None:
            continue
        if spec.field in given:
            other = given[spec.field]
            problems.append(DirectiveProblem(key, f"give {other} or {key}, not both (same thing)"))
            continue
        given[spec.field] = key
        try:
            found[spec.field] = spec.read(value, text)
        except ValueError as exc:
            problems.append(DirectiveProblem(key, str(exc)))
    return Directives(**found), problems


def _unknown(key: str, table: Mapping[str, DirectiveSpec]) -> str:
    if table is BY_KEY and key in BY_FIELD:  # a wire name where a user name belongs
        return f"unknown directive: write {BY_FIELD[key].key!r} ({BY_FIELD[key].forms})"
    known = ", ".join(sorted(table))
    return f"unknown directive (known: {known}; native lines go in raw)"
