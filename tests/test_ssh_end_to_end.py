"""Issue 4 acceptance: the real CLI over the real sshd hosts.

Background jobs are host-bound (the process lives on the host that started
it), so "100 jobs over two SSH hosts" is two platforms: ``one`` on host1
(install target t1) and ``two`` on host2/host2b (one account, one install
target t2). Nothing is mocked: real ssh, rsync, agent, background runner.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from conftest import Infra, require
from ssh_harness import SshCli, ssh_platform, unique_root

HOSTILE = "we ird 'q' \"dq\"; $(touch /tmp/PWNED-ssh) `id` *\nline2"

SCRIPTS = {
    "ok": 'echo "out of $JOBRELAY_JOB_NAME"\necho "$SSH_CONNECTION" > conn.txt\n',
    "fail": "echo failing >&2\nexit 3\n",
    "signal": "kill -TERM $$\nsleep 5\n",
    "hostile": 'printf "%s" "$JOBRELAY_JOB_NAME" > name.txt\necho "$SSH_CONNECTION" > conn.txt\n',
}
LOGS_EACH = 3  # jobs per host and kind whose output `jobrelay logs` shows
EXPECTED = {"ok": "succeeded", "fail": "failed", "signal": "failed", "hostile": "succeeded"}


@pytest.fixture
def cli(tmp_path: Path, infra: Infra) -> Any:
    require(infra, "ssh")
    root = unique_root()
    toml = ssh_platform("one", ["host1"], "t1", infra, f"~/{root}", max_batch=10)
    toml += ssh_platform("two", ["host2", "host2b"], "t2", infra, f"~/{root}", max_batch=10)
    toml += ssh_platform("twob", ["host2b"], "t2", infra, f"~/{root}")
    c = SshCli(tmp_path, infra, toml, root)
    yield c
    c.cleanup()


def jobs_file(tmp: Path, platform: str, n: int) -> tuple[Path, list[str]]:
    scripts = tmp / "scripts"
    scripts.mkdir(exist_ok=True)
    for kind, text in SCRIPTS.items():
        (scripts / f"{kind}.sh").write_text(text, encoding="utf-8")
    kinds = [list(SCRIPTS)[i % len(SCRIPTS)] for i in range(n)]
    lines = []
    import json

    for i, kind in enumerate(kinds):
        name = f"{HOSTILE} {platform} {i}" if kind == "hostile" else f"{kind}-{platform}-{i}"
        lines.append(json.dumps({"script": str(scripts / f"{kind}.sh"), "name": name}))
    path = tmp / f"{platform}.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path, kinds


def test_hundred_jobs_over_two_ssh_hosts(cli: SshCli, tmp_path: Path) -> None:
    plan: dict[str, str] = {}
    for platform, host in (("one", "host1"), ("two", "host2")):
        path, kinds = jobs_file(tmp_path, platform, 50)
        submitted = cli.json("submit", "--platform", platform, "--run", "r", "--jobs", str(path))
        assert len(submitted) == 50
        for job, kind in zip(submitted, kinds, strict=True):
            assert job["state"] in ("submitted", "running", "succeeded", "failed"), job
            assert job["host"] == host, job
            plan[job["job"]] = kind

    # a separate process waits (polls) them to the end
    done = {j["job"]: j for j in cli.json("wait", *plan, "--timeout", "240")}
    wrong = {
        ref: (j["state"], plan[ref]) for ref, j in done.items() if j["state"] != EXPECTED[plan[ref]]
    }
    assert not wrong, wrong
    for ref, job in done.items():
        if plan[ref] == "fail":
            assert job["exit"] == "3"
        if plan[ref] == "signal":
            assert job["exit"] == "SIGTERM"

    # hostile names arrive byte-exact on the remote host; nothing was executed
    hostile = [j for ref, j in done.items() if plan[ref] == "hostile"]
    assert len(hostile) == 24
    for job in hostile:
        written = cli.host_job_dir(job["host"], job) / "name.txt"
        assert written.read_text(encoding="utf-8") == job["name"]
        assert job["name"].startswith(HOSTILE)
    assert not Path("/tmp/PWNED-ssh").exists()

    # logs from wherever the job ran (host1 or host2), out and err: a few jobs of each
    # kind on each host (a `logs` is a CLI process and an ssh login, ~0.7 s: all 50 of
    # them took more than half of this test, and proved nothing the few do not)
    checked: Counter[tuple[str, str]] = Counter()
    for ref, job in done.items():
        kind = plan[ref]
        if kind not in ("ok", "fail") or checked[job["host"], kind] == LOGS_EACH:
            continue
        checked[job["host"], kind] += 1
        if kind == "ok":
            out = cli.run("logs", ref).stdout
            assert out == f"out of {job['name']}\n"
        else:
            assert cli.run("logs", ref, "--err").stdout == "failing\n"
    assert set(checked.values()) == {LOGS_EACH} and len(checked) == 4, checked

    # one install per install target: host2 and host2b share t2, and separate
    # CLI processes (submit, wait, logs) did not install again
    installs = cli.installs()
    assert sorted(installs) == [f"t1|~/{cli.root_name}", f"t2|~/{cli.root_name}"]
    assert all(entry["count"] == 1 for entry in installs.values()), installs
    # the second host of t2 runs the agent already there
    extra = cli.json("submit", "--platform", "twob", "--run", "r", str(tmp_path / "scripts/ok.sh"))
    assert extra[0]["host"] == "host2b"
    assert cli.installs()[f"t2|~/{cli.root_name}"]["count"] == 1
    agents = list((cli.host_root("host2") / ".jobrelay").glob("agent-*.pyz"))
    assert len(agents) == 1


def test_one_master_connection_serves_many_agent_calls(cli: SshCli, tmp_path: Path) -> None:
    """One CLI process, 30 jobs in batches of 10 (3 submit calls, then polls):
    every job saw the same ssh client port, and host1's sshd accepted exactly
    one login from that port while starting a session per agent call."""
    path, kinds = jobs_file(tmp_path, "one", 30)
    log_path = Path(cli.infra.data["sshd_logs"]["host1"])
    start = log_path.stat().st_size  # client ports get reused: read only this test's lines
    jobs = cli.json("submit", "--platform", "one", "--run", "m", "--jobs", str(path), "--wait")
    ports = set()
    for job, kind in zip(jobs, kinds, strict=True):
        if kind in ("ok", "hostile"):
            conn = (cli.host_job_dir("host1", job) / "conn.txt").read_text().split()
            ports.add(conn[1])
    assert len(ports) == 1, ports
    port = ports.pop()
    with log_path.open("rb") as stream:
        stream.seek(start)
        log = stream.read().decode(errors="replace")
    accepted = re.findall(rf"Accepted publickey for rjhost1 from \S+ port {port} ", log)
    sessions = re.findall(rf"Starting session: command for rjhost1 from \S+ port {port} ", log)
    assert len(accepted) == 1
    # install (rsync) + 3 submit batches + at least one poll (one call: max_poll_batch)
    assert len(sessions) >= 5, len(sessions)
    assert Counter(j["state"] for j in jobs)["succeeded"] == kinds.count("ok") + kinds.count(
        "hostile"
    )
