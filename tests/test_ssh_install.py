"""Install targets over real ssh: user files, idempotent re-install, a stale agent, tidy."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

import pytest
from conftest import Infra, require
from ssh_harness import SshCli, ssh_platform, unique_root

from jobrelay import __version__


@pytest.fixture
def cli(tmp_path: Path, infra: Infra) -> Any:
    require(infra, "ssh")
    root = unique_root()
    toml = ssh_platform("two", ["host2", "host2b"], "t2", infra, f"~/{root}/deep/er")
    c = SshCli(tmp_path, infra, toml, f"{root}/deep/er")
    yield c
    c.root_name = root
    c.cleanup()


def test_install_user_files_with_excludes_then_tidy(cli: SshCli, tmp_path: Path) -> None:
    src = tmp_path / "src"
    (src / "bin").mkdir(parents=True)
    (src / "bin" / "tool.sh").write_text("echo tool ran\n")
    (src / "bin" / "__pycache__").mkdir()
    (src / "bin" / "__pycache__" / "x.pyc").write_text("junk")
    (src / "lib").mkdir()
    (src / "lib" / "a.py").write_text("A = 1\n")
    (src / "lib" / "b.txt").write_text("not wanted\n")
    args = ["install", "--platform", "two", "--run", "u", "--from", str(src)]
    args += ["bin/", "lib/*.py", "--exclude", "__pycache__/"]
    proc = cli.run(*args)
    assert proc.returncode == 0, proc
    run_dir = cli.host_root("host2") / "u"
    got = sorted(p.relative_to(run_dir).as_posix() for p in run_dir.rglob("*") if p.is_file())
    assert got == ["bin/tool.sh", "lib/a.py"]
    # the job can use them: its dir is <run>/jobs/<id>-<name>
    script = tmp_path / "use.sh"
    script.write_text('bash "$JOBRELAY_JOB_DIR/../../bin/tool.sh"\n')
    job = cli.json("submit", "--platform", "two", "--run", "u", str(script), "--wait")[0]
    assert job["state"] == "succeeded" and cli.run("logs", job["job"]).stdout == "tool ran\n"
    # again: idempotent, same files
    assert cli.run(*args).returncode == 0
    # tidy refuses while a job is not final, then removes the run dir on the target
    sleeper = tmp_path / "sleep.sh"
    sleeper.write_text("sleep 30\n")
    live = cli.json("submit", "--platform", "two", "--run", "u", str(sleeper))[0]
    refused = cli.run("tidy", "--run", "u", check=False)
    assert refused.returncode == 2 and "not final" in refused.stderr
    assert run_dir.exists()
    cli.run("kill", live["job"])
    cli.json("wait", live["job"], "--timeout", "60")
    done = cli.run("tidy", "--run", "u")
    assert done.returncode == 0, done
    assert not run_dir.exists()
    assert (cli.host_root("host2") / ".jobrelay").is_dir()  # the agent stays for other runs


def test_stale_agent_under_our_name_is_replaced(cli: SshCli, tmp_path: Path) -> None:
    script = tmp_path / "ok.sh"
    script.write_text("sleep 30\n")
    first = cli.json("submit", "--platform", "two", "--run", "s", str(script))[0]
    assert first["state"] in ("submitted", "running")
    agents = list((cli.host_root("host2") / ".jobrelay").glob("agent-*.pyz"))
    assert len(agents) == 1
    ours = agents[0].read_bytes()
    # replace it with an agent that answers like an older version
    fake = tmp_path / "fake.pyz"
    with zipfile.ZipFile(fake, "w") as zf:
        zf.writestr(
            "__main__.py",
            "import json, sys\nreq = json.load(sys.stdin)\n"
            "print(json.dumps({'v': 1, 'end': True, 'agent_version': '0.0.0-old',"
            " 'count': 0, 'host': 'x'}))\n",
        )
    agents[0].write_bytes(fake.read_bytes())
    polled = cli.run("poll", first["job"], "--json", check=False)
    assert polled.returncode == 0
    installs = cli.installs()
    assert installs == {}, installs  # the record is dropped: the agent there is not ours
    # the next call installs again: rsync --checksum puts our bytes back
    cli.json("poll", first["job"])
    assert agents[0].read_bytes() == ours
    entry = next(iter(cli.installs().values()))
    assert entry["agent"] == agents[0].name and __version__ in agents[0].name
    assert entry["count"] == 1
    killed = cli.json("kill", first["job"])
    assert killed[0]["state"] == "killed", killed
    assert json.loads(cli.run("list", "--json").stdout.splitlines()[0])["state"] == "killed"
