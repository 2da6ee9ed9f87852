"""The ``jobrelay`` console command's entry: light classes, then the CLI.

A command is one short process (ecFlow starts one per task submit, kill and
status), so its start is a hot path. The standard ``dataclasses`` module
costs about 15 ms to import and compiles several methods per class; the CLI
process builds its classes with the agent's stand-in instead
(``host_dataclasses.use_light``), which must happen before any of them is
defined. Library users and the tests keep the standard module.
"""

from __future__ import annotations

import os
import sys


def main() -> None:
    from . import host_dataclasses

    host_dataclasses.use_light()
    from . import config_cache
    from .state_dir import home_text

    config_cache.use(home_text())
    from .cli.main import main as cli_main

    leave(cli_main())


def leave(code: int) -> None:
    """End the process with ``code``, without the interpreter's teardown when
    nothing is left for it to do.

    Tearing down the modules a command imported (clearing some hundred module
    dicts, collecting their cycles) took about 6 ms of a one-shot ``status``
    here, a tenth of it; ecFlow pays it per task. The command has closed its
    ledger and files by now, so the teardown only frees memory the kernel
    frees anyway. It is skipped only when the output flushes cleanly, no
    ``atexit`` callback is registered (logging, rich, tempfile finalizers
    register theirs) and no other thread runs; otherwise, and where CPython's
    ``atexit._ncallbacks`` is missing, the exit is the ordinary one."""
    import atexit

    callbacks = getattr(atexit, "_ncallbacks", None)
    threading = sys.modules.get("threading")
    if (
        callbacks is None
        or callbacks() > 0
        or (threading is not None and threading.active_count() > 1)
    ):
        raise SystemExit(code)
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except Exception:  # a closed pipe...: said and exited with as Python would
        raise SystemExit(code) from None
    os._exit(code)
