"""What a person sees in a real terminal: `watch` and the wait bar run under
tmux (a private server), read back with capture-pane.

Jobs wait on a flag file the test creates, so every step is a condition met
(bounded polling of the pane), never a measured time."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from cli_harness import Cli, local_cli
from conftest import require_that


class Tmux:
    def __init__(self, cli: Cli) -> None:
        self.socket = f"jobrelay-test-{uuid.uuid4().hex[:8]}"
        self.cli = cli

    def tmux(self, *args: str) -> str:
        proc = subprocess.run(["tmux", "-L", self.socket, *args], capture_output=True, text=True)
        assert proc.returncode == 0, f"tmux {' '.join(args)}: {proc.stderr}"
        return proc.stdout

    def start(self, *jobrelay: str) -> None:
        keep = ("JOBRELAY_HOME", "JOBRELAY_CONFIG", "PYTHONPATH", "PATH")
        env = " ".join(shlex.quote(f"{k}={v}") for k, v in self.cli.env().items() if k in keep)
        command = " ".join(shlex.quote(a) for a in self.cli.argv(*jobrelay))
        shell = f"env {env} TERM=xterm-256color {command}; echo EXIT=$?; sleep 600"
        # bash: on Ctrl-C it goes on when the command handled it itself (says EXIT=130)
        self.tmux("new-session", "-d", "-x", "110", "-y", "30", "bash", "-c", shell)

    def screen(self, escapes: bool = False) -> str:
        return self.tmux("capture-pane", "-p", *(["-e"] if escapes else []))

    def until(self, ok: Callable[[str], bool], what: str) -> str:
        for _ in range(1200):
            text = self.screen()
            if ok(text):
                return text
            time.sleep(0.05)
        raise AssertionError(f"never on screen: {what}\n{self.screen()}")

    def close(self) -> None:
        subprocess.run(["tmux", "-L", self.socket, "kill-server"], capture_output=True)


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    return local_cli(tmp_path)


@pytest.fixture
def term(cli: Cli) -> Iterator[Tmux]:
    require_that(shutil.which("tmux") is not None, "tmux is not installed (tests/infra/up.sh)")
    t = Tmux(cli)
    yield t
    t.close()


def colour_of(word: str, screen: str) -> str | None:
    """The foreground colour code ``word`` is drawn in, in its table row."""
    for line in screen.splitlines():
        if line.startswith("run "):
            continue  # the header's counts are coloured too; the rows are checked
        found = re.search(r"\x1b\[([0-9;]*)m(?:\x1b\[[0-9;]*m)*" + word, line)
        if found:
            codes = [c for c in found.group(1).split(";") if c.startswith("3") and len(c) == 2]
            return codes[-1] if codes else None
    return None


def jobs(tmp: Path) -> tuple[Path, str, str]:
    flag = tmp / "flag"
    held = tmp / "held.sh"
    held.write_text(f"#!/bin/sh\nwhile [ ! -e {shlex.quote(str(flag))} ]; do sleep 0.1; done\n")
    fails = tmp / "fails.sh"
    fails.write_text("#!/bin/sh\nexit 5\n")
    return flag, str(held), str(fails)


def test_watch_redraws_in_place_and_exits_by_the_jobs_fate(
    cli: Cli, term: Tmux, tmp_path: Path
) -> None:
    flag, held, fails = jobs(tmp_path)
    cli.run("submit", fails, "--run", "old")
    cli.run("submit", held, fails, "--run", "night")
    term.start("watch", "--interval", "0.2")  # the current run: night, not old
    seen = term.until(lambda s: "failed 1" in s and "running 1" in s, "one running, one failed")
    assert seen.count("run night") == 1  # drawn in place: no scrolled copies
    assert "2 jobs" in seen and "elapsed" in seen and "RUN TIME" in seen
    coloured = term.screen(escapes=True)
    assert colour_of("failed", coloured) == "31"  # red
    assert colour_of("running", coloured) == "36"  # cyan

    flag.touch()
    done = term.until(lambda s: "EXIT=" in s, "watch ended")
    assert "all 2 job(s) final: 1 succeeded, 1 failed" in done
    assert "EXIT=1" in done  # a job failed
    assert done.count("run night") == 1
    assert "running" not in done and "old/" not in done


def test_wait_bar_moves_and_ctrl_c_names_the_jobs_left(
    cli: Cli, term: Tmux, tmp_path: Path
) -> None:
    _, held, fails = jobs(tmp_path)
    term.start("submit", held, fails, "--run", "eve", "--wait")
    screen = term.until(lambda s: "1/2" in s, "the bar counting the failed job as final")
    assert "submitted 2 job(s) to run 'eve': eve/1 eve/2" in screen
    assert "waiting for 2 job(s): eve/1 eve/2" in screen
    assert "wait" in screen and "failed 1" in screen and "running 1" in screen

    term.tmux("send-keys", "C-c")
    screen = term.until(lambda s: "EXIT=" in s, "submit --wait interrupted")
    assert "stopped waiting; 1 job(s) not final: eve/1" in screen
    assert "jobrelay wait eve/1" in screen
    assert "EXIT=130" in screen
    assert "Traceback" not in screen
    assert os.path.isdir(cli.run_root / "eve")  # the jobs keep running: not tidied


def test_watch_fits_a_long_run_on_the_screen(cli: Cli, term: Tmux, tmp_path: Path) -> None:
    quick = tmp_path / "quick.sh"
    quick.write_text("#!/bin/sh\ntrue\n")
    lines = "".join(f'{{"script": "{quick}", "name": "q{i}"}}\n' for i in range(40))
    cli.run("submit", "--jobs", "-", "--run", "big", stdin=lines)
    term.start("watch", "--run", "big", "--interval", "0.2")
    done = term.until(lambda s: "EXIT=" in s, "watch ended")
    assert done.count("run big  40 jobs") == 1  # the header stays on screen, once
    assert "all 40 job(s) final: 40 succeeded" in done
    assert "more (" in done and "succeeded): jobrelay list --run big" in done
    assert "EXIT=0" in done
