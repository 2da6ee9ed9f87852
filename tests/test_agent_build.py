"""The agent zipapp: deterministic, named by its content, built once per code change."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from jobrelay import __version__
from jobrelay.agent.build import build_bytes, build_zipapp


def test_same_code_same_bytes_and_name(tmp_path: Path) -> None:
    assert build_bytes() == build_bytes()
    first = build_zipapp(tmp_path / "a")
    second = build_zipapp(tmp_path / "b")
    assert first.name == second.name and first.name.startswith(f"agent-{__version__}-")
    assert first.read_bytes() == second.read_bytes()


def test_the_build_is_remembered_and_redone_when_needed(tmp_path: Path) -> None:
    path = build_zipapp(tmp_path)
    memo = tmp_path / "built.json"
    stamp = path.stat().st_mtime_ns
    assert build_zipapp(tmp_path) == path and path.stat().st_mtime_ns == stamp  # not rewritten
    path.unlink()  # the file went missing: built again, same name
    assert build_zipapp(tmp_path) == path and path.is_file()
    memo.write_text(json.dumps({"name": path.name, "fingerprint": "old code"}))
    assert build_zipapp(tmp_path) == path  # a stale memo means a rebuild, same bytes
    assert json.loads(memo.read_text())["fingerprint"] != "old code"


def test_the_zipapp_runs_with_no_site_packages(tmp_path: Path) -> None:
    path = build_zipapp(tmp_path)
    out = subprocess.run(
        [sys.executable, "-S", "-E", str(path), "--version"],
        capture_output=True,
        text=True,
        check=True,
        cwd=tmp_path,
    )
    assert out.stdout.strip() == __version__
