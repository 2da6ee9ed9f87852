"""Read a job status file into ``StatusFacts`` (format: docs/status-file.md).

The reader never raises for what the file holds: garbage lines, unknown
keys, bad numbers, non-UTF-8 bytes and a cut last line are reported in
``StatusFacts.problems`` and the rest is still read. A huge file is read
only in part (its head and its tail), the skipped middle is reported.

Host-side and controller-side: standard library only, Python 3.8+.
"""

from __future__ import annotations

import errno
import os
import re

from . import keys
from .escaping import escape_value, unescape_value
from .facts import Message, StatusFacts

TYPE_CHECKING = False  # importing typing costs the agent 4 ms of start: names for mypy only
if TYPE_CHECKING:
    from typing import Dict, List, Optional, Sequence, Set, Tuple

#: bytes read from the start of a big file (submit-time lines live there)
HEAD_BYTES = 64 * 1024
#: bytes read from the end of a big file (the exit lines live there)
TAIL_BYTES = 4 * 1024 * 1024
#: problems kept per file; the rest are counted in one last entry
MAX_PROBLEMS = 20

KEY_PATTERN = re.compile(r"^[A-Z][A-Z0-9_]*$")

_INT_KEYS = {keys.PID: "pid", keys.EXIT_CODE: "exit_code"}
_TEXT_KEYS = {
    keys.IDENTITY: "identity",
    keys.RUNNER_NAME: "runner_name",
    keys.RUNNER_ID: "runner_id",
    keys.SUBMIT_TIME: "submit_time",
    keys.HOST: "host",
    keys.START_TIME: "start_time",
    keys.EXIT_SIGNAL: "exit_signal",
    keys.EXIT_TIME: "exit_time",
    keys.RUNNER_FORGOT: "runner_forgot",
}
_EXITS = ("succeeded", "failed")
_CHOICE_KEYS = {
    keys.EXIT: ("exit", _EXITS),
    keys.EXIT_BY: ("exit_by", ("wrapper", "agent")),
}


class _Problems:
    """Problem notes, capped so a garbage file cannot make a huge report."""

    def __init__(self) -> None:
        self.items: List[str] = []
        self.dropped = 0

    def add(self, text: str) -> None:
        if len(self.items) < MAX_PROBLEMS:
            self.items.append(text)
        else:
            self.dropped += 1

    def result(self) -> Tuple[str, ...]:
        if self.dropped:
            return (*self.items, f"{self.dropped} more problems not listed")
        return tuple(self.items)


class _State:
    def __init__(self) -> None:
        self.values: Dict[str, object] = {}
        self.messages: List[Message] = []
        self.problems = _Problems()
        self.restarts = 0


# -- parsing ----------------------------------------------------------------
def parse_status(data: bytes) -> StatusFacts:
    """Parse the whole content of a status file (``exists`` is True)."""
    state = _State()
    _parse_lines(data, state, label="line", last_may_be_cut=True)
    return _facts(state)


def _parse_lines(data: bytes, state: _State, *, label: str, last_may_be_cut: bool) -> None:
    bad: Set[int] = set()  # numbers of the lines that are not UTF-8
    try:
        lines = data.decode("utf-8").split("\n")
    except UnicodeDecodeError:
        lines = []
        for number, raw in enumerate(data.split(b"\n"), start=1):
            try:
                lines.append(raw.decode("utf-8"))
            except UnicodeDecodeError:
                lines.append(raw.decode("utf-8", errors="replace"))
                bad.add(number)
    # After the final newline split() leaves ""; anything else there is a cut line.
    tail = lines.pop()
    values = state.values
    for number, line in enumerate(lines, start=1):
        # The common line, first and cheap: a known text key with a plain value.
        key, sep, value = line.partition("=")
        if sep and number not in bad:
            name = _TEXT_KEYS.get(key)
            # "=" in a text value may be the next line glued to a cut one: the slow path
            if name is not None and "\\" not in value and "=" not in value:
                if key == keys.START_TIME:
                    _start_after_exit(state)
                values[name] = value
                continue
            name = _INT_KEYS.get(key)  # plain non-negative digits: the quick path
            if name is not None and value.isdigit() and len(value) <= 18 and value.isascii():
                if key == keys.PID:
                    _start_after_exit(state)
                values[name] = int(value)
                continue
            if key == keys.EXIT and value in _EXITS:
                values["exit"] = value
                continue
            if key == keys.VERSION and value == keys.FORMAT_VERSION:
                continue
        _parse_line(line, state, label, number, number in bad)
    if tail and last_may_be_cut:
        number = len(lines) + 1
        if _parse_line(tail, state, label, number, number in bad, dry_run=True):
            _parse_line(tail, state, label, number, number in bad)
            state.problems.add(f"{label} {number}: last line has no newline (accepted, it parses)")
        else:
            state.problems.add(
                f"{label} {number}: last line has no newline and does not parse (ignored)"
            )


def _parse_line(
    line: str, state: _State, label: str, number: int, bad_utf8: bool, dry_run: bool = False
) -> bool:
    """Apply one line to ``state``; return whether it was a valid line."""
    problems = state.problems
    where = f"{label} {number}"
    if not line.strip():
        return not dry_run  # blank lines are harmless; a blank cut last line is not a line
    if bad_utf8 and not dry_run:
        problems.add(f"{where}: not UTF-8 (decoded with replacement characters)")
    glue = _glue_point(line)
    if glue:
        if not dry_run:
            problems.add(
                f"{where}: a line cut short ({line[:glue][:40]!r}) runs into the next:"
                f" read {line[glue:][:40]!r}"
            )
        line = line[glue:]
    key, sep, escaped = line.partition("=")
    if not sep or not KEY_PATTERN.match(key):
        if not dry_run:
            problems.add(f"{where}: not KEY=VALUE: {line[:80]!r}")
        return False
    value, clean = unescape_value(escaped)
    if not clean and not dry_run:
        problems.add(f"{where}: stray backslash in {key} value kept as is")
    if key == keys.MESSAGE:
        message = _parse_message(value)
        if message is None:
            if not dry_run:
                problems.add(f"{where}: JOB_MESSAGE is not TIME|SEVERITY|TEXT: {value[:80]!r}")
            return False
        if not dry_run:
            state.messages.append(message)
        return True
    if key in _INT_KEYS:
        integer = _parse_int(value)
        if integer is None:
            if not dry_run:
                problems.add(f"{where}: {key} is not an integer: {value[:40]!r}")
            return False
        if not dry_run:
            if key == keys.PID:
                _start_after_exit(state)
            state.values[_INT_KEYS[key]] = integer
        return True
    if key in _CHOICE_KEYS:
        field_name, choices = _CHOICE_KEYS[key]
        if value not in choices:
            if not dry_run:
                problems.add(f"{where}: {key} is {value[:40]!r}, expected one of {choices}")
            return False
        if not dry_run:
            state.values[field_name] = value
        return True
    if key in _TEXT_KEYS:
        if not dry_run:
            if key == keys.START_TIME:
                _start_after_exit(state)
            state.values[_TEXT_KEYS[key]] = value
        return True
    if key == keys.VERSION:
        if value != keys.FORMAT_VERSION and not dry_run:
            problems.add(
                f"{where}: format version {value[:20]!r}, reader knows {keys.FORMAT_VERSION}"
            )
        return True
    if not dry_run:
        problems.add(f"{where}: unknown key {key} (ignored)")
    return True  # a well-formed line of a newer writer is not damage


#: what one run of the job settles; a new start after them clears them
_RUN_END_FIELDS = ("exit", "exit_code", "exit_signal", "exit_time", "exit_by", "runner_forgot")


def _start_after_exit(state: _State) -> None:
    """A start line after an exit: the runner ran the job again (requeue, preemption).

    The settled view is the latest run's, so the earlier run's end is
    cleared; the file keeps both runs' lines (it is append-only).
    """
    if "exit" not in state.values:
        return
    for name in _RUN_END_FIELDS:
        state.values.pop(name, None)
    state.restarts += 1


_GLUED = re.compile(r"JOB_[A-Z0-9_]*=")


def _glue_point(line: str) -> int:
    """Where a whole line starts inside ``line``, when a writer cut short left a
    partial line (no newline) and the next append ran into it; else 0.

    Only a line that is not itself whole is split, at the first place where a
    known key's valid line begins; a message's free text is never split.
    """
    if line.startswith(keys.MESSAGE + "=") or _whole(line):
        return 0
    for found in _GLUED.finditer(line, 1):
        if _whole(line[found.start() :]):
            return found.start()
    return 0


def _whole(line: str) -> bool:
    """``line`` is one known key with a value of its kind (no glued line in it)."""
    key, _, value = line.partition("=")
    if key == keys.MESSAGE:
        return _parse_message(value) is not None
    if key in _INT_KEYS:
        return _parse_int(value) is not None
    if key in _CHOICE_KEYS:
        return value in _CHOICE_KEYS[key][1]
    if key == keys.VERSION:
        return value.isdigit()
    return key in _TEXT_KEYS and _GLUED.search(value) is None


def _parse_int(value: str) -> Optional[int]:
    text = value.strip()
    if not re.fullmatch(r"[+-]?[0-9]{1,18}", text):
        return None
    return int(text)


def _parse_message(value: str) -> Optional[Message]:
    parts = value.split("|", 2)
    if len(parts) != 3 or parts[1] not in keys.SEVERITIES or not parts[0]:
        return None
    return Message(time=parts[0], severity=parts[1], text=parts[2])


def _facts(state: _State) -> StatusFacts:
    v = state.values

    def text(name: str) -> Optional[str]:
        item = v.get(name)
        return item if isinstance(item, str) else None

    def integer(name: str) -> Optional[int]:
        item = v.get(name)
        return item if isinstance(item, int) else None

    return StatusFacts(
        exists=True,
        identity=text("identity"),
        runner_name=text("runner_name"),
        runner_id=text("runner_id"),
        submit_time=text("submit_time"),
        pid=integer("pid"),
        host=text("host"),
        start_time=text("start_time"),
        messages=tuple(state.messages),
        exit=text("exit"),
        exit_code=integer("exit_code"),
        exit_signal=text("exit_signal"),
        exit_time=text("exit_time"),
        exit_by=text("exit_by"),
        runner_forgot=text("runner_forgot"),
        restarts=state.restarts,
        problems=state.problems.result(),
    )


# -- reading a file ---------------------------------------------------------
def read_status_file(
    path: str, *, added: bytes = b"", head_bytes: int = HEAD_BYTES, tail_bytes: int = TAIL_BYTES
) -> StatusFacts:
    """Read ``path``; a missing file gives ``exists=False``, never an exception for content.

    ``added``: status lines kept elsewhere that follow the file's own (SSH-free
    keeps the controller's lines beside its mirror: docs/ssh-free.md).
    """
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return StatusFacts(exists=False)
    except OSError as exc:
        if exc.errno == errno.ENOTDIR:
            return StatusFacts(exists=False)
        return StatusFacts(exists=True, problems=(f"cannot read {path}: {exc.strerror}",))
    try:
        return _read_fd(fd, head_bytes, tail_bytes, added)
    except OSError as exc:  # e.g. EISDIR on read, EIO
        return StatusFacts(exists=True, problems=(f"cannot read {path}: {exc.strerror}",))
    finally:
        os.close(fd)


def _read_fd(fd: int, head_bytes: int, tail_bytes: int, added: bytes) -> StatusFacts:
    size = os.fstat(fd).st_size
    state = _State()
    if size <= head_bytes + tail_bytes:
        # The writer may append while we read: take what is there up to the bound.
        data = _read_upto(fd, head_bytes + tail_bytes)
        _parse_lines(data, state, label="line", last_may_be_cut=True)
        return _with_added(state, added)
    head = _read_upto(fd, head_bytes)
    os.lseek(fd, size - tail_bytes, os.SEEK_SET)
    tail = _read_upto(fd, tail_bytes)
    # Whole lines only: the partial line at each cut belongs to the skipped middle.
    head_end = head.rfind(b"\n") + 1
    tail_start = tail.find(b"\n") + 1 if tail else 0
    skipped = (size - tail_bytes + tail_start) - head_end
    _parse_lines(head[:head_end], state, label="line", last_may_be_cut=False)
    state.problems.add(
        f"file is {size} bytes: skipped {skipped} bytes between byte {head_end} "
        f"and byte {head_end + skipped} (read the first and last parts only)"
    )
    _parse_lines(tail[tail_start:], state, label="tail line", last_may_be_cut=True)
    return _with_added(state, added)


def _with_added(state: _State, added: bytes) -> StatusFacts:
    if added:
        _parse_lines(added, state, label="added line", last_may_be_cut=True)
    return _facts(state)


def _read_upto(fd: int, limit: int) -> bytes:
    chunks: List[bytes] = []
    left = limit
    while left > 0:
        chunk = os.read(fd, min(left, 1024 * 1024))
        if not chunk:
            break
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


# -- writing ------------------------------------------------------------------
def format_line(key: str, value: str) -> str:
    """One status line with its newline; the value is escaped."""
    if not KEY_PATTERN.match(key):
        raise ValueError(f"not a status key: {key!r}")
    return f"{key}={escape_value(value)}\n"


def append_lines(path: str, pairs: Sequence[Tuple[str, str]]) -> None:
    """Append lines in one ``write()`` to an ``O_APPEND`` file.

    One write on an O_APPEND descriptor lands whole at the end of the file,
    so lines from concurrent appenders (wrapper, agent) do not interleave.
    """
    text = "".join(format_line(key, value) for key, value in pairs)
    data = _encode(text)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        written = os.write(fd, data)
        while written < len(data):  # a short write on a regular file: disk full or signal
            written += os.write(fd, data[written:])
    finally:
        os.close(fd)


def _encode(text: str) -> bytes:
    try:
        return text.encode("utf-8", errors="surrogateescape")
    except UnicodeEncodeError:  # lone surrogates that are not escaped bytes
        return text.encode("utf-8", errors="replace")
