"""Entry point of the host agent: one JSON request on stdin, JSON lines out.

Started once per batch by the controller (over SSH or locally), so its start
is a hot path: the standard library only, imported lazily. With ``--serve``
it answers one request per input line, each up to its closing line, and so
a long-running controller pays the start (ssh session, interpreter, imports)
once per host instead of once per poll (docs/protocol.md, "Sessions").

Host-side: standard library only, Python 3.8+.
"""

from __future__ import annotations

import os
import signal
import sys

from .. import __version__
from ..engine.protocol import EndLine, JobReply, ProtocolError, parse_request

TYPE_CHECKING = False  # importing typing costs the agent 4 ms of start: names for mypy only
if TYPE_CHECKING:
    from typing import Dict, List, Optional, Tuple

    from ..engine.protocol import Request

USAGE = "usage: agent [--confine RUN_ROOT] [--serve] < request.json"
#: a serving agent with no request for this long exits (its controller is gone or idle)
SERVE_IDLE_SECONDS = 900.0


class Output:
    """Reply lines to stdout; a vanished reader must not stop the work.

    Poll replies go out in large pieces (a thousand small writes through an
    ssh channel cost more than the poll itself); submit and kill replies go
    out line by line, so that what was done before a hang or a cut still
    reaches the controller.
    """

    FLUSH_BYTES = 256 * 1024

    def __init__(self) -> None:
        self.broken = False
        self.streaming = True
        self._parts: List[str] = []
        self._size = 0

    def line(self, text: str) -> None:
        self._parts.append(text + "\n")
        self._size += len(text) + 1
        if self.streaming or self._size >= self.FLUSH_BYTES:
            self.flush()

    def flush(self) -> None:
        parts, self._parts, self._size = self._parts, [], 0
        if self.broken:
            return
        try:
            sys.stdout.write("".join(parts))
            sys.stdout.flush()
        except (BrokenPipeError, OSError):
            # The controller went away (killed, ssh dropped). Keep going: the
            # status files we write are what the next poll reads.
            self.broken = True


def main(argv: Optional[List[str]] = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    confine: Optional[str] = None
    if args[:1] == ["--confine"] and len(args) >= 2:
        confine = args[1]
        args = args[2:]
    if args == ["--version"] and confine is None:
        print(__version__)
        return 0
    serve = args == ["--serve"]
    if args and not serve:
        print(USAGE, file=sys.stderr)
        return 2
    # An ssh connection that drops must not kill a half-done submit.
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    out = Output()
    if not serve:
        return answer(sys.stdin.read(), confine, out)
    # Serving: one request per line, each answered up to its closing line,
    # until stdin ends, the reader goes away, or nothing comes for a while.
    lines = _RequestLines(0)
    last = Repeats()
    while not out.broken:
        text = lines.next(SERVE_IDLE_SECONDS)
        if text is None:
            return 0
        code = answer(text, confine, out, last)
        if code:
            return code  # a bad request: the controller sees the session end
    return 0


class Repeats:
    """Serving: the last requests and replies, so that a repeat costs no parse
    and no encoding.

    A scheduler's warm polls send the same requests, byte for byte, and most
    jobs get the same reply as last time: a request's text seen lately is not
    parsed again, and a reply equal to the job's last one reuses its line.
    """

    TEXTS = 4  # requests kept parsed (a host's jobs come in batches of max_poll_batch)
    SWEEP = 64  # replies not repeated within this many requests are dropped

    def __init__(self) -> None:
        self.parsed: Dict[str, Request] = {}
        self.lines: Dict[str, Tuple[int, JobReply, str]] = {}  # ref -> request no., reply, line
        self.count = 0

    def parse(self, text: str) -> Request:
        self.count += 1
        if self.count % self.SWEEP == 0:
            oldest = self.count - self.SWEEP
            self.lines = {k: v for k, v in self.lines.items() if v[0] > oldest}
        request = self.parsed.get(text)
        if request is None:
            request = parse_request(text)
            if len(self.parsed) >= self.TEXTS:
                del self.parsed[next(iter(self.parsed))]
            self.parsed[text] = request
        return request

    def encode(self, reply: JobReply) -> str:
        last = self.lines.get(reply.job)
        line = last[2] if last is not None and last[1] == reply else reply.to_json()
        self.lines[reply.job] = (self.count, reply, line)
        return line


def answer(text: str, confine: Optional[str], out: Output, last: Optional[Repeats] = None) -> int:
    """Answer one request: a line per job, then the closing line."""
    try:
        request = parse_request(text) if last is None else last.parse(text)
    except ProtocolError as exc:
        print(f"jobrelay agent: bad request: {exc}", file=sys.stderr)
        return 2
    from ..engine.verbs import Engine, runner_options
    from .jobdirs import expand_root
    from .local_host import LocalJobHost

    out.streaming = request.verb != "poll"
    query = None
    root = expand_root(request.run_root)
    if confine is not None and root != expand_root(confine):
        for job in request.jobs:
            refused = JobReply(
                job=job.job,
                dir=job.dir,
                verb=request.verb,
                error=f"run root {request.run_root!r} refused: agent confined to {confine!r}",
            )
            out.line(refused.to_json())
    else:
        engine = Engine(
            LocalJobHost(root),
            request.verb,
            runner_options(request.runner_options),
            request.runner_grant,
        )
        for reply in engine.run(request.jobs):
            out.line(reply.to_json() if last is None else last.encode(reply))
        query = engine.query
    end = EndLine(__version__, len(request.jobs), os.uname().nodename, runner_query=query)
    out.line(end.to_json())
    out.flush()
    return 0


class _RequestLines:
    """Lines read straight from a file descriptor, so that waiting for the next
    one can time out (a buffered text stream may hold data select cannot see)."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.pending = b""

    def next(self, idle: float) -> Optional[str]:
        import select

        while b"\n" not in self.pending:
            ready, _, _ = select.select([self.fd], [], [], idle)
            if not ready:
                return None
            chunk = os.read(self.fd, 1 << 20)
            if not chunk:
                return None  # end of input: a last line without newline is no request
            self.pending += chunk
        line, _, self.pending = self.pending.partition(b"\n")
        return line.decode("utf-8", "surrogateescape")
