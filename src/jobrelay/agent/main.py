"""Entry point of the host agent: one JSON request on stdin, JSON lines out.

Started once per batch by the controller (over SSH or locally), so its start
is a hot path: the standard library only, imported lazily.

Host-side: standard library only, Python 3.8+.
"""

from __future__ import annotations

import os
import signal
import sys
from typing import List, Optional

from .. import __version__
from .protocol import EndLine, JobReply, ProtocolError, parse_request

USAGE = "usage: agent [--confine RUN_ROOT] < request.json"


class Output:
    """Reply lines to stdout; a vanished reader must not stop the work."""

    def __init__(self) -> None:
        self.broken = False

    def line(self, text: str) -> None:
        if self.broken:
            return
        try:
            sys.stdout.write(text + "\n")
            sys.stdout.flush()
        except (BrokenPipeError, OSError):
            # The controller went away (killed, ssh dropped). Keep going: the
            # status files we write are what the next poll reads.
            self.broken = True


def main(argv: Optional[List[str]] = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    confine: Optional[str] = None
    if args[:1] == ["--confine"] and len(args) == 2:
        confine = args[1]
    elif args == ["--version"]:
        print(__version__)
        return 0
    elif args:
        print(USAGE, file=sys.stderr)
        return 2
    # An ssh connection that drops must not kill a half-done submit.
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    try:
        request = parse_request(sys.stdin.read())
    except ProtocolError as exc:
        print(f"jobrelay agent: bad request: {exc}", file=sys.stderr)
        return 2
    from .jobdirs import expand_root
    from .verbs import Agent

    out = Output()
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
        for reply in Agent(request, root).run():
            out.line(reply.to_json())
    out.line(EndLine(__version__, len(request.jobs), os.uname().nodename).to_json())
    return 0
