"""One-shot commands start light (issue 13 §5): which modules `--version`,
`list`, and `status`, `poll`, `kill` and `submit` of local jobs load. Structural, not
timed: each command runs in a fresh interpreter started with ``-S`` (no
site-packages ``.pth`` files, whatever this machine has: the system
interpreter here imports certifi through one) and its ``sys.modules`` is
checked against the modules each command must not load. The bare
interpreter's own modules are checked too, so that no assertion here holds
only because ``-S`` left nothing to find. The parsed config cache
(jobrelay/config_cache.py) is checked on its own below."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from cli_harness import Cli, local_cli

from jobrelay import config_cache
from jobrelay.platforms.config import load_config

# at exit, as the process ends (an atexit callback: the command then exits the
# ordinary way, src/jobrelay/command.py `leave`)
PROBE = """\
import atexit, sys
atexit.register(lambda: print("modules", " ".join(sorted(sys.modules))))
from jobrelay.command import main
main()
"""

#: what no one-shot command of a local job needs
NEVER = {"rich", "dataclasses", "jobrelay.transport.ssh", "jobrelay.manager.sshfree"}
#: what reading the ledger and polling a local job need not load (the config cached)
NO_CONTROLLER = NEVER | {
    "asyncio",
    "jobrelay.manager.controller",
    "socket",
    "subprocess",
    "tempfile",
    "random",
    "urllib.parse",
    "ipaddress",
    "pathlib",
    "typing",
    "contextlib",
    "tomllib",
    "locale",  # argparse's words taken as given (cli/main.py words_as_given)
    "gettext",  # argparse imported beside a stand-in (cli/main.py words_as_given)
    "signal",  # only a kill, and a forked launcher, signal
}
#: what a local submit, poll or kill needs not: each runs in this process
#: (manager/local_submit.py, manager/local_poll.py, manager/local_kill.py)
HERE = NEVER | {
    "asyncio",
    "jobrelay.manager.controller",
    "jobrelay.manager.agentcall",
    "socket",
    "subprocess",
    "tempfile",
    "typing",
    "tomllib",
    "locale",
    "gettext",
    "signal",
    "pkgutil",
}
FORBIDDEN = {
    "--version": NO_CONTROLLER | {"argparse", "sqlite3", "enum", "jobrelay.ledger.store"},
    "list": NO_CONTROLLER
    | {"json", "jobrelay.engine.protocol", "jobrelay.runners.base", "jobrelay.platforms"},
    # a running job that ecFlow did not submit: nothing to tell ecFlow
    "status": NO_CONTROLLER | {"json", "jobrelay.cli.ecflow"},  # no env or directives
    "kill": HERE - {"signal"},  # it signals
    "poll": HERE,
    "submit": HERE,
}


def modules_after(cli: Cli, *argv: str) -> set[str]:
    proc = subprocess.run(
        [sys.executable, "-S", "-c", PROBE, *argv],
        env=cli.env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    last = proc.stdout.strip().splitlines()[-1].split()
    assert proc.returncode == 0 and last[0] == "modules", (argv, proc.stdout[-2000:], proc.stderr)
    return set(last[1:])


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    cli = local_cli(tmp_path)
    settled = time.time() - 3600  # old enough for the config cache
    os.utime(cli.config, (settled, settled))
    return cli


def test_the_bare_interpreter_has_none_of_them(cli: Cli) -> None:
    """Else the checks below could not fail."""
    proc = subprocess.run(
        [sys.executable, "-S", "-c", "import sys; print(' '.join(sys.modules))"],
        env=cli.env(),
        capture_output=True,
        text=True,
        check=True,
    )
    loaded = set(proc.stdout.split())
    assert not loaded & set().union(*FORBIDDEN.values())


def test_one_shot_commands_load_only_what_they_need(cli: Cli, tmp_path: Path) -> None:
    sleeper = tmp_path / "s.sh"
    sleeper.write_text("#!/bin/bash\nsleep 60\n")
    [job] = cli.json("submit", str(sleeper))  # also fills the config cache
    ref = str(job["job"])

    assert FORBIDDEN["--version"].isdisjoint(modules_after(cli, "--version"))
    assert FORBIDDEN["list"].isdisjoint(modules_after(cli, "list"))
    status = modules_after(cli, "status", ref)
    assert FORBIDDEN["status"].isdisjoint(status), FORBIDDEN["status"] & status
    assert "jobrelay.manager.local_poll" in status  # polled here, not by an agent
    submit = modules_after(cli, "submit", str(sleeper))
    assert FORBIDDEN["submit"].isdisjoint(submit), FORBIDDEN["submit"] & submit
    assert "jobrelay.manager.local_submit" in submit  # submitted here, not by an agent
    poll = modules_after(cli, "poll")
    assert FORBIDDEN["poll"].isdisjoint(poll), FORBIDDEN["poll"] & poll
    assert "jobrelay.manager.local_poll" in poll  # polled here, not by an agent
    kill = modules_after(cli, "kill", ref)
    assert FORBIDDEN["kill"].isdisjoint(kill), FORBIDDEN["kill"] & kill
    assert "jobrelay.manager.local_kill" in kill  # killed here, not by an agent
    cli.run("kill", "--run", "default")


def config_read(cli: Cli, *, cached: bool) -> set[str]:
    """Modules after reading the platforms file as the CLI does (``cached``)
    or as a library user does."""
    code = (
        "import sys\nfrom jobrelay import config_cache\nfrom jobrelay.state_dir import home_text\n"
        f"if {cached}:\n    config_cache.use(home_text())\n"
        "from jobrelay.platforms.config import load_platforms\n"
        "assert 'localhost' in load_platforms()\nprint(' '.join(sorted(sys.modules)))"
    )
    proc = subprocess.run(
        [sys.executable, "-S", "-c", code], env=cli.env(), capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
    return set(proc.stdout.split())


def test_a_settled_file_is_parsed_once(cli: Cli) -> None:
    cache = cli.home / config_cache.CACHE_FILE
    assert "tomllib" in config_read(cli, cached=False)
    assert not cache.exists()  # a library user's process keeps no cache
    assert "tomllib" in config_read(cli, cached=True)
    assert cache.exists()
    assert "tomllib" not in config_read(cli, cached=True)


def test_a_fresh_file_is_parsed_each_time(cli: Cli) -> None:
    """A file changed less than SETTLE seconds ago may change again within one
    mtime tick, unseen: it is not cached."""
    os.utime(cli.config)  # now
    for _ in range(2):
        assert "tomllib" in config_read(cli, cached=True)
    assert not (cli.home / config_cache.CACHE_FILE).exists()


def test_the_cache_follows_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "platforms.toml"
    monkeypatch.setattr(config_cache, "_dir", str(tmp_path / "home"))

    def write(text: str, age: float) -> None:
        config.write_text(text)
        then = time.time() - age
        os.utime(config, (then, then))

    write('[platforms.a]\nrun_root = "/r/a"\n', age=3600)
    assert set(load_config(config)) == {"a", "localhost"}
    assert config_cache.cached(str(config)) is not None  # kept: settled
    write('[platforms.b]\nrun_root = "/r/b"\n', age=1800)  # same size, another mtime
    assert config_cache.cached(str(config)) is None
    assert set(load_config(config)) == {"b", "localhost"}
    write('[platforms.c]\nrun_root = "/r/c"\n', age=0)  # fresh: not kept
    assert set(load_config(config)) == {"c", "localhost"}
    assert config_cache.cached(str(config)) is None
    write("[platforms.d]\nrun_root = 1979-05-27\n", age=3600)  # a date: marshal cannot
    with pytest.raises(Exception, match="run_root"):
        load_config(config)
    assert config_cache.cached(str(config)) is None


#: an object torn down with __main__'s globals says so: the interpreter's teardown ran
TORN = """\
import sys
class Torn:
    def __del__(self):
        sys.stderr.write("torn down\\n")
torn = Torn()
{extra}
from jobrelay.command import main
main()
"""


def test_a_command_ends_without_teardown_only_when_nothing_waits_for_it(
    cli: Cli, tmp_path: Path
) -> None:
    """`leave` skips the interpreter's teardown after a command, but keeps its
    exit code and its whole output, and exits the ordinary way when an atexit
    callback is registered."""

    def run(extra: str, *argv: str) -> subprocess.CompletedProcess[str]:
        code = TORN.format(extra=extra)
        return subprocess.run(
            [sys.executable, "-c", code, *argv], env=cli.env(), capture_output=True, text=True
        )

    quick = tmp_path / "quick.sh"
    quick.write_text("#!/bin/bash\ntrue\n")
    for n in range(3):
        cli.json("submit", "--run", "r", "--name", f"j{n}", str(quick))
    listed = run("", "list", "--run", "r")
    assert listed.returncode == 0 and "torn down" not in listed.stderr, listed
    assert [line.split()[0] for line in listed.stdout.splitlines()] == ["JOB", "r/1", "r/2", "r/3"]
    unknown = run("", "status", "r/99")
    assert unknown.returncode == 4 and "torn down" not in unknown.stderr, unknown
    assert "r/99" in unknown.stderr  # said before the exit, not lost in a buffer
    waited = run("import atexit; atexit.register(lambda: print('callback'))", "list", "--run", "r")
    assert waited.returncode == 0 and "torn down" in waited.stderr, waited
    assert waited.stdout.splitlines()[-1] == "callback"
