"""docs/library.md's examples run as written: every ```python block, in a
fresh directory with its own HOME and no config (the embedded localhost
platform), each in its own interpreter. A block that raises or asserts
fails the test."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "library.md"
BLOCKS = re.findall(r"^```python\n(.*?)^```$", DOC.read_text(encoding="utf-8"), re.M | re.S)


def test_the_page_has_examples() -> None:
    assert len(BLOCKS) >= 3


@pytest.mark.parametrize("number", range(len(BLOCKS)))
def test_library_doc_example_runs(number: int, tmp_path: Path) -> None:
    home = tmp_path / "home"
    work = tmp_path / "work"
    home.mkdir()
    work.mkdir()
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("JOBRELAY_", "XDG_")) and k != "PYTHONPATH"
    }
    env.update(HOME=str(home), PYTHONPATH=str(ROOT / "src"))
    script = work / f"example_{number}.py"
    script.write_text(BLOCKS[number], encoding="utf-8")
    done = subprocess.run(
        [sys.executable, str(script)],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, f"example {number} failed:\n{done.stdout}\n{done.stderr}"
    # the example used this HOME's ledger, nobody else's
    assert (home / ".local" / "share" / "jobrelay" / "ledger.sqlite").exists()
