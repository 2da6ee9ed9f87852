"""Platform config: defaults, the embedded default, discovery, and every error path."""

from __future__ import annotations

from pathlib import Path

import pytest

from jobrelay.platforms import (
    ConfigError,
    Platform,
    Selection,
    TransportKind,
    embedded_default,
    load_config,
    load_platforms,
)
from jobrelay.platforms.config import default_config_path, find_config
from jobrelay.runners.base import Directives
from jobrelay.runners.directives import parse_duration, parse_memory_mb


def write(tmp_path: Path, text: str, name: str = "platforms.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def error_of(tmp_path: Path, text: str) -> ConfigError:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    err = info.value
    assert err.file == str(path)
    assert str(path) in str(err)
    return err


FULL = """
[platforms.hpc]
hosts = ["login1", "login2"]
selection = "random"
transport = "ssh"
runner = "slurm"
install_target = "hpcfs"
ssh_command = ["ssh", "-F", "/etc/cfg"]
rsync_command = ["/opt/bin/rsync", "--bwlimit=1000"]
run_root = "/scratch/me/jr"
max_batch = 7
cluster = "rjtest2"
python = ["/usr/bin/env", "python3.9"]
command_timeout = 12.5
bad_host_ttl = 0
runner_prefix = ["runuser", "-u", "bob", "--"]
multiplex = false
control_persist = 30
submit_retry_budget = 0
[platforms.hpc.directives]
time_limit = "1:30:00"
cpus = 4
nodes = 2
memory = "4G"
queue = "short"
account = "abc"
job_name = "jn"
raw = ["#SBATCH --qos=high"]
"""


def test_every_key_is_read(tmp_path: Path) -> None:
    hpc = load_config(write(tmp_path, FULL))["hpc"]
    assert hpc == Platform(
        name="hpc",
        hosts=("login1", "login2"),
        selection=Selection.RANDOM,
        transport=TransportKind.SSH,
        runner="slurm",
        install_target="hpcfs",
        ssh_command=("ssh", "-F", "/etc/cfg"),
        rsync_command=("/opt/bin/rsync", "--bwlimit=1000"),
        run_root="/scratch/me/jr",
        max_batch=7,
        cluster="rjtest2",
        directives=Directives(
            time_limit=5400,
            cpus=4,
            nodes=2,
            memory_mb=4096,
            queue="short",
            account="abc",
            job_name="jn",
            raw=("#SBATCH --qos=high",),
        ),
        python=("/usr/bin/env", "python3.9"),
        command_timeout=12.5,
        bad_host_ttl=0.0,
        runner_prefix=("runuser", "-u", "bob", "--"),
        multiplex=False,
        control_persist=30,
        submit_retry_budget=0,
    )


def test_defaults_of_an_ssh_platform(tmp_path: Path) -> None:
    p = load_config(write(tmp_path, '[platforms.hpc]\nhosts = ["a"]\ntransport = "ssh"\n'))["hpc"]
    assert p.install_target == "hpc"  # default: the platform's name
    assert p.ssh_command == ("ssh", "-oBatchMode=yes", "-oConnectTimeout=10")
    assert p.rsync_command == ("rsync",)
    assert p.run_root == "~/jobrelay-run"
    assert p.max_batch == 100
    assert p.selection is Selection.ORDER
    assert p.runner == "background"
    assert p.cluster is None
    assert p.directives == Directives()
    assert p.python == ("python3",)
    assert p.multiplex is True
    assert p.runner_prefix == ()


def test_local_platform_defaults(tmp_path: Path) -> None:
    p = load_config(write(tmp_path, '[platforms.here]\nrunner = "at"\n'))["here"]
    assert p.transport is TransportKind.LOCAL
    assert p.hosts == ("localhost",)
    assert p.install_target == "localhost"


def test_python_as_a_string(tmp_path: Path) -> None:
    p = load_config(write(tmp_path, '[platforms.x]\npython = "/usr/bin/python3"\n'))["x"]
    assert p.python == ("/usr/bin/python3",)


def test_partition_is_queue(tmp_path: Path) -> None:
    text = '[platforms.x]\ndirectives = { account = "abc", partition = "short" }\n'
    assert load_config(write(tmp_path, text))["x"].directives.queue == "short"


def test_embedded_default() -> None:
    assert embedded_default() == {"localhost": Platform(name="localhost")}
    local = embedded_default()["localhost"]
    assert local.runner == "background"
    assert local.transport is TransportKind.LOCAL
    assert local.hosts == ("localhost",)
    assert local.install_target == "localhost"


def test_localhost_is_kept_unless_redefined(tmp_path: Path) -> None:
    assert set(load_config(write(tmp_path, FULL))) == {"localhost", "hpc"}
    text = '[platforms.localhost]\nrunner = "at"\n'
    assert load_config(write(tmp_path, text))["localhost"].runner == "at"


def test_empty_file_gives_the_embedded_default(tmp_path: Path) -> None:
    assert load_config(write(tmp_path, "")) == embedded_default()


def test_discovery_order(tmp_path: Path) -> None:
    env = {"HOME": str(tmp_path / "home"), "XDG_CONFIG_HOME": str(tmp_path / "xdg")}
    assert find_config(None, env) == (tmp_path / "xdg/jobrelay/platforms.toml", False)
    env_named = {**env, "JOBRELAY_CONFIG": str(tmp_path / "env.toml")}
    assert find_config(None, env_named) == (tmp_path / "env.toml", True)
    assert find_config(tmp_path / "cli.toml", env_named) == (tmp_path / "cli.toml", True)
    assert default_config_path({"HOME": "/h"}) == Path("/h/.config/jobrelay/platforms.toml")


def test_load_platforms_without_any_file(tmp_path: Path) -> None:
    env = {"HOME": str(tmp_path), "XDG_CONFIG_HOME": str(tmp_path / "none")}
    assert load_platforms(None, env) == embedded_default()


def test_load_platforms_reads_user_config_dir(tmp_path: Path) -> None:
    (tmp_path / "jobrelay").mkdir()
    write(tmp_path / "jobrelay", '[platforms.u]\nrunner = "at"\n')
    env = {"HOME": "/nonexistent", "XDG_CONFIG_HOME": str(tmp_path)}
    assert load_platforms(None, env)["u"].runner == "at"


def test_a_named_file_must_exist(tmp_path: Path) -> None:
    missing = tmp_path / "missing.toml"
    for explicit, env in ((missing, {}), (None, {"JOBRELAY_CONFIG": str(missing)})):
        with pytest.raises(ConfigError) as info:
            load_platforms(explicit, env)
        assert info.value.file == str(missing)
        assert "cannot read" in str(info.value)


def test_toml_syntax_error(tmp_path: Path) -> None:
    err = error_of(tmp_path, "[platforms.x\n")
    assert (err.platform, err.key) == (None, None)
    assert "not valid TOML" in err.problem


@pytest.mark.parametrize(
    ("text", "platform", "key", "words"),
    [
        ("[other]\nx = 1\n", None, "other", "unknown top-level key"),
        ("platforms = 3\n", None, "platforms", "table"),
        ("[platforms]\nhpc = 3\n", "hpc", None, "must be a table"),
        ('[platforms."bad name"]\n', "bad name", None, "platform names"),
        ('[platforms.x]\nhostz = ["a"]\n', "x", "hostz", "unknown key"),
        ('[platforms.x]\nhosts = "a"\n', "x", "hosts", "list of strings"),
        ("[platforms.x]\nhosts = []\n", "x", "hosts", "must not be empty"),
        ('[platforms.x]\nhosts = ["a", "a"]\n', "x", "hosts", "twice"),
        ('[platforms.x]\nhosts = ["-oProxyCommand=x"]\n', "x", "hosts", "not a host name"),
        ('[platforms.x]\nhosts = ["a b"]\n', "x", "hosts", "not a host name"),
        ('[platforms.x]\nhosts = ["a", 1]\n', "x", "hosts", "list of strings"),
        ('[platforms.x]\nselection = "first"\n', "x", "selection", "order, random"),
        ('[platforms.x]\ntransport = "scp"\n', "x", "transport", "local, ssh, ssh-free"),
        ('[platforms.x]\ntransport = "ssh"\n', "x", "hosts", "required"),
        ('[platforms.x]\ntransport = "ssh-free"\n', "x", "hosts", "required"),
        ("[platforms.x]\nrunner = 5\n", "x", "runner", "must be a string"),
        ('[platforms.x]\nrunner = ""\n', "x", "runner", "must not be empty"),
        ('[platforms.x]\nrunner = "a b"\n', "x", "runner", "not a valid runner name"),
        ('[platforms.x]\ninstall_target = "a/b"\n', "x", "install_target", "not a valid"),
        ('[platforms.x]\nssh_command = "ssh -F x"\n', "x", "ssh_command", "list of strings"),
        ("[platforms.x]\nssh_command = []\n", "x", "ssh_command", "must not be empty"),
        ('[platforms.x]\nrsync_command = [""]\n', "x", "rsync_command", "empty strings"),
        ('[platforms.x]\nrun_root = "jobs"\n', "x", "run_root", "absolute"),
        ('[platforms.x]\nrun_root = "~bob/jobs"\n', "x", "run_root", "absolute"),
        ('[platforms.x]\nrun_root = "/a\\nb"\n', "x", "run_root", "newline"),
        ("[platforms.x]\nmax_batch = 0\n", "x", "max_batch", "at least 1"),
        ('[platforms.x]\nmax_batch = "10"\n', "x", "max_batch", "integer"),
        ("[platforms.x]\nmax_batch = true\n", "x", "max_batch", "integer"),
        ("[platforms.x]\nmax_batch = 1.5\n", "x", "max_batch", "integer"),
        ("[platforms.x]\ncluster = 2\n", "x", "cluster", "string"),
        ("[platforms.x]\npython = 3\n", "x", "python", "list of strings"),
        ("[platforms.x]\ncommand_timeout = 0\n", "x", "command_timeout", "at least"),
        ('[platforms.x]\ncommand_timeout = "1m"\n', "x", "command_timeout", "number"),
        ("[platforms.x]\nbad_host_ttl = -1\n", "x", "bad_host_ttl", "at least"),
        ("[platforms.x]\nbad_host_ttl = nan\n", "x", "bad_host_ttl", "at least"),
        ('[platforms.x]\nrunner_prefix = "runuser"\n', "x", "runner_prefix", "list"),
        ('[platforms.x]\nmultiplex = "yes"\n', "x", "multiplex", "true or false"),
        ("[platforms.x]\ncontrol_persist = 0\n", "x", "control_persist", "at least 1"),
        ("[platforms.x]\nsubmit_retry_budget = -1\n", "x", "submit_retry_budget", "at least 0"),
        ('[platforms.x]\ndirectives = ["a"]\n', "x", "directives", "table"),
        ("[platforms.x]\ndirectives = { walltime = 5 }\n", "x", "directives.walltime", "unknown"),
        (
            '[platforms.x]\ndirectives = { time_limit = "soon" }\n',
            "x",
            "directives.time_limit",
            "duration",
        ),
        (
            "[platforms.x]\ndirectives = { time_limit = 0 }\n",
            "x",
            "directives.time_limit",
            "more than 0",
        ),
        (
            '[platforms.x]\ndirectives = { time_limit = "1:61:00" }\n',
            "x",
            "directives.time_limit",
            "below 60",
        ),
        (
            "[platforms.x]\ndirectives = { time_limit = 1.5 }\n",
            "x",
            "directives.time_limit",
            "float",
        ),
        (
            '[platforms.x]\ndirectives = { memory = "lots" }\n',
            "x",
            "directives.memory",
            "memory size",
        ),
        ("[platforms.x]\ndirectives = { memory = true }\n", "x", "directives.memory", "boolean"),
        ("[platforms.x]\ndirectives = { cpus = 0 }\n", "x", "directives.cpus", "at least 1"),
        ('[platforms.x]\ndirectives = { nodes = "2" }\n', "x", "directives.nodes", "integer"),
        ("[platforms.x]\ndirectives = { queue = 1 }\n", "x", "directives.queue", "string"),
        ('[platforms.x]\ndirectives = { raw = "#SBATCH -x" }\n', "x", "directives.raw", "list"),
        (
            '[platforms.x]\ndirectives = { queue = "a", partition = "b" }\n',
            "x",
            "directives.partition",
            "not both",
        ),
    ],
)
def test_errors_name_file_platform_and_key(
    tmp_path: Path, text: str, platform: str | None, key: str | None, words: str
) -> None:
    err = error_of(tmp_path, text)
    assert (err.platform, err.key) == (platform, key)
    assert words in err.problem
    if platform is not None:
        assert repr(platform) in str(err)
    if key is not None:
        assert repr(key) in str(err)


def test_ssh_free_needs_an_absolute_run_root(tmp_path: Path) -> None:
    base = '[platforms.h]\ntransport = "ssh-free"\nhosts = ["H"]\n'
    err = error_of(tmp_path, base)  # the default "~/jobrelay-run" is not absolute
    assert (err.platform, err.key) == ("h", "run_root")
    err = error_of(tmp_path, base + 'run_root = "~/run"\n')
    assert "absolute" in err.problem
    ok = load_config(write(tmp_path, base + 'run_root = "/home/h/run"\n'))["h"]
    assert ok.transport is TransportKind.SSH_FREE and ok.run_root == "/home/h/run"


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        (90, 90),
        ("90s", 90),
        ("30m", 1800),
        ("1h30m", 5400),
        ("2d", 172800),
        ("01:00:00", 3600),
        ("0:00:05", 5),
        ("1-02:03:04", 93784),
    ],
)
def test_durations(text: object, seconds: int) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize(
    ("text", "mb"),
    [
        (100, 100),
        ("500M", 500),
        ("4G", 4096),
        ("4GB", 4096),
        ("1T", 1048576),
        ("2048K", 2),
        ("1K", 1),
        ("2g", 2048),
        ("300", 300),
    ],
)
def test_memory(text: object, mb: int) -> None:
    assert parse_memory_mb(text) == mb


@pytest.mark.parametrize("bad", ["", "1x", "h1", "1:2", "-5", "1.5h"])
def test_bad_durations(bad: str) -> None:
    with pytest.raises(ValueError):
        parse_duration(bad)
