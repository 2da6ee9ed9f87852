"""The local transport: argv without a shell, timeouts, and file copies."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from jobrelay.transport.base import BadRelativePath
from jobrelay.transport.local import LocalTransport

HOSTILE = ["a b", "'\"", "$(touch PWNED)", "x;y", "l1\nl2", "*", "~/t", "-n", ""]


def run(coro):  # type: ignore[no-untyped-def]
    return asyncio.run(coro)


def test_argv_arrives_byte_exact_without_a_shell(tmp_path: Path) -> None:
    out = run(LocalTransport().run("localhost", ["printf", "%s\\0", *HOSTILE], timeout=30))
    assert out.returncode == 0 and not out.timed_out and not out.unreachable
    assert out.stdout.split("\0")[:-1] == HOSTILE
    assert not (tmp_path / "PWNED").exists() and not Path("PWNED").exists()


def test_stdin_exit_code_and_stderr() -> None:
    argv = ["sh", "-c", "cat; echo oops >&2; exit 3"]
    out = run(LocalTransport().run("localhost", argv, stdin=b"in\x00put", timeout=30))
    assert (out.returncode, out.stdout, out.stderr) == (3, "in\x00put", "oops\n")


def test_timeout_kills_the_process_group(tmp_path: Path) -> None:
    marker = tmp_path / "late"
    # the child sleeps then writes; killing only `sh` would leave it running
    script = f"echo started; (sleep 3; touch {marker}) & wait"
    out = run(LocalTransport().run("localhost", ["sh", "-c", script], timeout=1))
    assert out.timed_out and out.returncode is None
    assert out.stdout == "started\n"
    assert not out.unreachable
    run(asyncio.sleep(3.5))
    assert not marker.exists()


def test_missing_program() -> None:
    out = run(LocalTransport().run("localhost", ["/nonexistent/prog"], timeout=5))
    assert out.returncode is None and "cannot run" in out.stderr


def test_push_and_pull_many_files(tmp_path: Path) -> None:
    src, dst, back = tmp_path / "src", tmp_path / "remote", tmp_path / "back"
    rels = [f"run1/job{i:02d}/01/job" for i in range(30)] + ["odd name/it's"]
    for i, rel in enumerate(rels):
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        (src / rel).write_text(f"content {i}\n")
    os.chmod(src / rels[0], 0o750)
    t = LocalTransport()
    out = run(t.push("localhost", src, rels, str(dst), timeout=30))
    assert out.ok, out.stderr
    assert (dst / rels[5]).read_text() == "content 5\n"
    assert (dst / rels[0]).stat().st_mode & 0o777 == 0o750
    pulled = run(t.pull("localhost", str(dst), [*rels, "run1/not-there"], back, timeout=30))
    assert pulled.ok, pulled.stderr  # a missing file is not an error for the others
    assert [(back / r).read_text() for r in rels] == [(src / r).read_text() for r in rels]
    assert not (back / "run1/not-there").exists()


def test_push_of_a_missing_file_fails_but_copies_the_others(tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    (tmp_path / "src/ok").write_text("ok")
    out = run(
        LocalTransport().push(
            "h", tmp_path / "src", ["gone", "ok"], str(tmp_path / "d"), timeout=30
        )
    )
    assert out.returncode == 1 and "gone" in out.stderr
    assert (tmp_path / "d/ok").read_text() == "ok"


def test_remote_root_with_tilde_is_this_home(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    (tmp_path / "f").write_text("x")
    out = run(LocalTransport().push("h", tmp_path, ["f"], "~/jr", timeout=30))
    assert out.ok and (tmp_path / "home/jr/f").read_text() == "x"


@pytest.mark.parametrize("bad", ["/etc/passwd", "../up", "a/../../b", "", "a\nb"])
def test_paths_cannot_leave_their_root(tmp_path: Path, bad: str) -> None:
    with pytest.raises(BadRelativePath):
        run(LocalTransport().push("h", tmp_path, [bad], str(tmp_path / "d"), timeout=5))
