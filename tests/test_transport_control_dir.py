"""Where ssh ControlMaster sockets live: short, private, never someone else's dir."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from jobrelay.transport.control_dir import make_control_dir
from jobrelay.transport.quoting import remote_command_line, rsync_shell_option


def test_under_xdg_runtime_dir_when_short() -> None:
    runtime = Path(tempfile.mkdtemp(prefix="r"))  # pytest's tmp_path is too long for sockets
    try:
        d = make_control_dir({"XDG_RUNTIME_DIR": str(runtime)})
        assert d is not None and d.parent == runtime / "jobrelay"
        assert d.stat().st_mode & 0o777 == 0o700
        assert (runtime / "jobrelay").stat().st_mode & 0o777 == 0o700
    finally:
        shutil.rmtree(runtime)


def test_too_long_runtime_dir_falls_back_to_tmp(tmp_path: Path) -> None:
    deep = tmp_path / ("x" * 80)
    deep.mkdir()
    d = make_control_dir({"XDG_RUNTIME_DIR": str(deep)})
    assert d is not None and d.parent.name == f"jr-{os.getuid()}"
    assert list(deep.joinpath("jobrelay").iterdir()) == []  # the long one was removed
    d.rmdir()


def test_a_dir_others_can_enter_is_not_used(tmp_path: Path) -> None:
    (tmp_path / "jobrelay").mkdir()
    (tmp_path / "jobrelay").chmod(0o777)
    d = make_control_dir({"XDG_RUNTIME_DIR": str(tmp_path)})
    assert d is not None and d.parent.name == f"jr-{os.getuid()}"
    d.rmdir()


def test_remote_command_line_quotes_every_word() -> None:
    assert remote_command_line(["echo", "a b", "", "~/x y", "~", "~x"]) == (
        "echo 'a b' '' ~/'x y' ~ '~x'"
    )


def test_rsync_shell_option_quotes_for_rsyncs_own_splitter() -> None:
    assert rsync_shell_option(["ssh", "-F", "/a b/c'd", "-oX=1"]) == "ssh -F '/a b/c''d' -oX=1"
    assert rsync_shell_option(["ssh", ""]) == "ssh ''"
