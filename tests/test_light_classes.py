"""The CLI builds its classes with the light stand-in (src/jobrelay/command.py);
that only works while every module asks ``host_dataclasses`` for them."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "jobrelay"
ALLOWED = {"host_dataclasses.py", "light_dataclasses.py"}


def test_no_module_imports_the_standard_dataclasses_directly() -> None:
    direct = re.compile(r"^\s*(from dataclasses import|import dataclasses)", re.MULTILINE)
    offenders = [
        str(path.relative_to(SRC))
        for path in SRC.rglob("*.py")
        if path.name not in ALLOWED and direct.search(path.read_text(encoding="utf-8"))
    ]
    assert offenders == [], f"use jobrelay.host_dataclasses instead in: {offenders}"


def test_the_cli_process_never_imports_the_standard_dataclasses(tmp_path: Path) -> None:
    code = (
        "import atexit, sys\n"
        "sys.argv = ['jobrelay', 'list']\n"
        "atexit.register(lambda: print('dataclasses' in sys.modules, file=sys.stderr))\n"
        "from jobrelay.command import main\n"
        "main()\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env={**os.environ, "JOBRELAY_HOME": str(tmp_path)},
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.strip().splitlines()[-1] == "False", proc.stderr
