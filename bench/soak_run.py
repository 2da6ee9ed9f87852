"""The soak's driver (bench/soak): the real `jobrelay` CLI, as a user runs it,
over the test infrastructure's hosts, with faults thrown in.

Platforms: ``local`` (background, this machine), ``host1`` and ``host2``
(background over ssh), ``slurm`` (Slurm through host1 over ssh). Faults:
jobs that fail or ``kill -9`` themselves (soak_plan), jobs killed by
``jobrelay kill``, the ssh master connections of this soak's controllers
``kill -9``ed while they submit, poll or kill, and a controller (a
``jobrelay`` process) ``kill -9``ed in the middle of a submit, a poll or a
kill and then started again (the next command on the same ledger).

Only processes this soak started are ever signalled: its own ``jobrelay``
processes, and ssh masters whose control socket lives under this soak's own
``XDG_RUNTIME_DIR``.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

from soak_plan import FINAL, Kind, SoakJob

ROOT = Path(__file__).resolve().parent.parent
PLATFORMS = (("local", 0.3), ("host1", 0.25), ("host2", 0.25), ("slurm", 0.2))


@dataclass
class Faults:
    restart: float = 0.1  # chance a submit/poll/kill controller is kill -9ed mid-way
    restart_submit: bool = True  # also mid-submit (its jobs may wait ~2 min to be judged)
    master: float = 0.2  # chance the ssh masters are kill -9ed during a command
    counts: Dict[str, int] = field(default_factory=dict)

    def count(self, what: str) -> None:
        self.counts[what] = self.counts.get(what, 0) + 1


class Soak:
    def __init__(
        self,
        work: Path,
        infra: Dict[str, Any],
        rng: random.Random,
        faults: Faults,
        runner_queries: Optional[str] = None,
    ):
        self.work = work
        self.runner_queries = runner_queries  # the Slurm platform's budget; None: the default
        self.rng = rng
        self.faults = faults
        self.tag = work.name
        self.home = work / "home"
        self.markers = work / "markers"
        self.scripts = work / "scripts"
        for d in (self.home, self.markers, self.scripts):
            d.mkdir(parents=True, exist_ok=True)
        self.markers.chmod(0o1777)  # the hosts' users and Slurm jobs write here
        for parent in (work, work.parent):
            parent.chmod(parent.stat().st_mode | 0o011)
        # a short private runtime dir: this soak's ssh control sockets live there
        self.runtime = Path(f"/tmp/jrsk-{self.tag[-6:]}")
        self.runtime.mkdir(mode=0o700, exist_ok=True)
        self.hosts = infra["hosts"]
        self.config = work / "platforms.toml"
        self.config.write_text(self.toml(infra), encoding="utf-8")
        self.lock = threading.Lock()

    def toml(self, infra: Dict[str, Any]) -> str:
        ssh = json.dumps(["ssh", "-F", infra["ssh_config"], "-oConnectTimeout=10"])
        common = "kill_grace = 1\nkill_timeout = 60\ncommand_timeout = 120\n"
        out = [f'[platforms.local]\nrun_root = "{self.work / "run-local"}"\n{common}']
        for host in ("host1", "host2"):
            out.append(
                f'[platforms.{host}]\nhosts = ["{host}"]\ntransport = "ssh"\n'
                f'install_target = "{self.tag}-{host}"\nssh_command = {ssh}\n'
                f'run_root = "~/{self.tag}"\n{common}'
            )
        out.append(
            f'[platforms.slurm]\nhosts = ["host1"]\ntransport = "ssh"\nrunner = "slurm"\n'
            f'install_target = "{self.tag}-slurm"\nssh_command = {ssh}\n'
            f'run_root = "~/{self.tag}-slurm"\n{common}'
            + (
                f"runner_queries = {json.dumps(self.runner_queries)}\n"
                if self.runner_queries
                else ""
            )
        )
        return "\n".join(out)

    # -- the CLI ---------------------------------------------------------
    def env(self) -> Dict[str, str]:
        env = dict(os.environ)
        env["JOBRELAY_HOME"] = str(self.home)
        env["JOBRELAY_CONFIG"] = str(self.config)
        env["XDG_RUNTIME_DIR"] = str(self.runtime)
        env["PYTHONPATH"] = str(ROOT / "src") + os.pathsep + env.get("PYTHONPATH", "")
        return env

    def start(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [sys.executable, "-m", "jobrelay.cli.main", *args],
            env=self.env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def command(self, args: Sequence[str], ssh: bool, may_restart: bool = True) -> str:
        """Run one `jobrelay` command, perhaps with a fault; its stdout (maybe cut short)."""
        return self.command_killed(args, ssh, may_restart)[0]

    def command_killed(
        self, args: Sequence[str], ssh: bool, may_restart: bool = True
    ) -> tuple[str, bool]:
        """Run one `jobrelay` command; (its stdout, whether the fault killed it)."""
        proc = self.start(*args)
        timers = []
        if may_restart and self.rng.random() < self.faults.restart:
            timers.append(threading.Timer(self.rng.uniform(0.2, 3.0), self.restart, (proc,)))
        if ssh and self.rng.random() < self.faults.master:
            timers.append(threading.Timer(self.rng.uniform(0.2, 3.0), self.kill_masters))
        for timer in timers:
            timer.start()
        try:
            out, _ = proc.communicate(timeout=1800)
        finally:
            for timer in timers:
                timer.cancel()
        return out, proc.returncode == -signal.SIGKILL

    def restart(self, proc: subprocess.Popen[str]) -> None:
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            with self.lock:
                self.faults.count("controller kill -9ed mid-command")

    def kill_masters(self) -> None:
        """kill -9 this soak's ssh master connections (their sockets are under our runtime dir)."""
        prefix = f"ssh: {self.runtime}/".encode()
        killed = 0
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                cmdline = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if cmdline.startswith(prefix):
                try:
                    os.kill(int(entry.name), signal.SIGKILL)
                    killed += 1
                except ProcessLookupError:
                    pass
        if killed:
            with self.lock:
                self.faults.count("ssh master kill -9ed")

    def json_lines(self, out: str) -> List[Dict[str, Any]]:
        jobs = []
        for line in out.splitlines():
            try:
                jobs.append(json.loads(line))
            except ValueError:
                continue  # a cut line of a killed controller
        return jobs

    # -- the work --------------------------------------------------------
    def submit(self, run: str, platform: str, jobs: Sequence[SoakJob]) -> None:
        lines = []
        for job in jobs:
            script = self.scripts / f"{job.key}.sh"
            script.write_text(job.script(self.markers), encoding="utf-8")
            lines.append(json.dumps({"script": str(script), "name": job.key}))
        listing = self.scripts / f"{run}.jsonl"
        listing.write_text("\n".join(lines) + "\n", encoding="utf-8")
        args = ("submit", "--platform", platform, "--run", run, "--jobs", str(listing))
        _, killed = self.command_killed(args, platform != "local", self.faults.restart_submit)
        lister = self.start("list", "--run", run, "--json")
        listed = lister.communicate(timeout=600)[0]
        if killed and lister.returncode == 0 and not self.json_lines(listed):
            # killed before the ledger took the jobs: nothing was accepted, the user retries
            self.command(args, platform != "local", may_restart=False)

    def poll(self, run: str, ssh: bool) -> List[Dict[str, Any]]:
        return self.json_lines(self.command(("poll", "--run", run, "--json"), ssh))

    def kill(self, refs: Sequence[str], ssh: bool) -> None:
        if refs:
            self.command(("kill", "--json", *refs), ssh)
            with self.lock:
                self.faults.counts["kill asked (jobs)"] = self.faults.counts.get(
                    "kill asked (jobs)", 0
                ) + len(refs)

    def ledger(self) -> List[Dict[str, Any]]:
        out = self.start("list", "--json").communicate(timeout=600)[0]
        return self.json_lines(out)

    def cleanup(self) -> None:
        for host in ("host1", "host2"):
            home = Path(self.hosts[host]["home"])
            for name in (self.tag, f"{self.tag}-slurm"):
                shutil.rmtree(home / name, ignore_errors=True)
        shutil.rmtree(self.runtime, ignore_errors=True)


@dataclass
class OpenRun:
    run: str
    platform: str
    jobs: Dict[str, SoakJob]  # by key (= job name)
    final: Dict[str, Dict[str, Any]] = field(default_factory=dict)
    kills: int = 0

    @property
    def done(self) -> bool:
        return len(self.final) == len(self.jobs)


def poll_round(soak: Soak, runs: List[OpenRun]) -> None:
    """Poll each open run once (four at a time); kill its KILLED-kind jobs still alive."""

    def one(open_run: OpenRun) -> None:
        ssh = open_run.platform != "local"
        answer = soak.poll(open_run.run, ssh)
        to_kill = []
        for job in answer:
            name = job.get("name")
            if name not in open_run.jobs:
                continue
            if job.get("state") in FINAL:
                open_run.final[name] = job
            elif open_run.jobs[name].kind is Kind.KILLED and job.get("state") in (
                "submitted",
                "running",
            ):
                to_kill.append(str(job["job"]))
        if to_kill and open_run.kills < 20:
            open_run.kills += 1
            soak.kill(to_kill, ssh)

    pending = [r for r in runs if not r.done]
    for start in range(0, len(pending), 4):
        threads = [threading.Thread(target=one, args=(r,)) for r in pending[start : start + 4]]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()


def wave(soak: Soak, index: int, jobs: Sequence[SoakJob]) -> List[OpenRun]:
    """Submit ``jobs`` over the platforms (all platforms at once), then kill the KILLED ones."""
    names = [p for p, _ in PLATFORMS]
    weights = [w for _, w in PLATFORMS]
    by_platform: Dict[str, List[SoakJob]] = {}
    for job in jobs:
        by_platform.setdefault(soak.rng.choices(names, weights)[0], []).append(job)
    runs = [
        OpenRun(f"w{index:03d}-{p}", p, {j.key: j for j in group})
        for p, group in by_platform.items()
    ]
    threads = [
        threading.Thread(target=soak.submit, args=(r.run, r.platform, list(r.jobs.values())))
        for r in runs
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return runs


def drive(
    soak: Soak, jobs: Sequence[SoakJob], wave_size: int, settle: float, log: Any
) -> Dict[str, Dict[str, Any]]:
    """All waves, polling as they go; then poll until every job is final or ``settle`` s
    pass with no progress. Returns the ledger's final word per job name."""
    runs: List[OpenRun] = []
    for index, start in enumerate(range(0, len(jobs), wave_size)):
        runs.extend(wave(soak, index, jobs[start : start + wave_size]))
        poll_round(soak, runs)
        while sum(len(r.jobs) - len(r.final) for r in runs) > 2 * wave_size:
            poll_round(soak, runs)
        done = sum(len(r.final) for r in runs)
        log(f"wave {index}: {start + wave_size} submitted, {done} final")
    last, since = -1, time.monotonic()
    while not all(r.done for r in runs) and time.monotonic() - since < settle:
        poll_round(soak, runs)
        done = sum(len(r.final) for r in runs)
        if done != last:
            last, since = done, time.monotonic()
            log(f"settling: {done} of {len(jobs)} final")
        time.sleep(1)
    # the ledger's word, read without contacting any host
    return {str(j.get("name")): j for j in soak.ledger()}


def load_infra() -> Dict[str, Any]:
    root = Path(os.environ.get("JOBRELAY_TEST_INFRA", "/tmp/jobrelay-test-infra"))
    env = root / "env.json"
    if not env.exists():
        subprocess.run(["bash", str(ROOT / "tests" / "infra" / "up.sh")], check=False)
    data: Dict[str, Any] = json.loads(env.read_text())
    return data


def missing(infra: Dict[str, Any]) -> Optional[str]:
    hosts = infra.get("hosts", {})
    if "host1" not in hosts or "host2" not in hosts or not infra.get("ssh_config"):
        return "the SSH test hosts host1 and host2 are not up (tests/infra/up.sh)"
    if not infra.get("slurm"):
        return "Slurm is not up (tests/infra/up.sh)"
    return None
