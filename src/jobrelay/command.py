"""The ``jobrelay`` console command's entry: light classes, then the CLI.

A command is one short process (ecFlow starts one per task submit, kill and
status), so its start is a hot path. The standard ``dataclasses`` module
costs about 15 ms to import and compiles several methods per class; the CLI
process builds its classes with the agent's stand-in instead
(``host_dataclasses.use_light``), which must happen before any of them is
defined. Library users and the tests keep the standard module.
"""

from __future__ import annotations


def main() -> None:
    from . import host_dataclasses

    host_dataclasses.use_light()
    from . import config_cache
    from .state_dir import home_text

    config_cache.use(home_text())
    from .cli.main import main as cli_main

    raise SystemExit(cli_main())
