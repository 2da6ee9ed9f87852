"""jobrelay as bench/compare drives it: the CLI for the makespan, the controller
API (one process, warm) for the polls and the kill.

Warm means: the ssh master to the host is up, the agent is installed, and
the controller has polled these jobs before (it holds their status files'
stamps and, from its second poll on, an agent session on the host).
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT / "src"))

from jobrelay.engine.protocol import JobRequest  # noqa: E402
from jobrelay.ledger.records import JobRecord  # noqa: E402
from jobrelay.ledger.store import Ledger  # noqa: E402
from jobrelay.manager.agent_reply import AgentReply  # noqa: E402
from jobrelay.manager.agentcall import AgentCaller  # noqa: E402
from jobrelay.manager.controller import Controller, SubmitItem  # noqa: E402
from jobrelay.platforms.config import load_platforms  # noqa: E402


class Jobrelay:
    """One controller on the SSH host, with a multiplexed and a plain platform."""

    def __init__(self, ssh: list[str], host: str, work: Path, tag: str) -> None:
        self.host = host
        self.work = work
        work.mkdir(parents=True, exist_ok=True)
        self.run_root = f"~/jobrelay-bench-{tag}"
        common = (
            f'transport = "ssh"\nhosts = ["{host}"]\nssh_command = {json.dumps(ssh)}\n'
            f'run_root = "{self.run_root}"\ninstall_target = "bench-{tag}"\n'
        )
        self.config = work / "platforms.toml"
        self.config.write_text(
            f"[platforms.bench]\n{common}\n[platforms.bench-nomux]\n{common}multiplex = false\n"
        )
        self.home = work / "home"
        self.home.mkdir(exist_ok=True)
        self.loop = asyncio.new_event_loop()
        self.ledger = Ledger.open(self.home / "ledger.sqlite")
        self.controller = Controller(self.home, load_platforms(str(self.config)), self.ledger)
        self.failures: list[str] = []

    def close(self) -> None:
        self.loop.run_until_complete(self.controller.close())
        self.ledger.close()
        self.loop.close()

    def run(self, coro: Any) -> Any:
        return self.loop.run_until_complete(coro)

    def script(self, name: str, body: str) -> Path:
        path = self.work / name
        path.write_text(f"#!/bin/bash\n{body}\n")
        return path

    # -- makespan through the CLI ---------------------------------------------
    def cli_makespan(self, n: int, run: str) -> float:
        script = self.script("trivial.sh", "echo ran")
        jobs = self.work / f"{run}.jsonl"
        jobs.write_text("".join(json.dumps({"script": str(script)}) + "\n" for _ in range(n)))
        env = dict(os.environ, JOBRELAY_HOME=str(self.work / "cli-home"))
        env["JOBRELAY_CONFIG"] = str(self.config)
        env["PYTHONPATH"] = str(ROOT / "src")
        argv = [sys.executable, "-m", "jobrelay.cli.main", "submit", "--jobs", str(jobs)]
        argv += ["--platform", "bench", "--run", run, "--wait", "--timeout", "300"]
        t0 = time.perf_counter()
        proc = subprocess.run(argv, env=env, capture_output=True, text=True)
        took = time.perf_counter() - t0
        if proc.stdout.count("succeeded") != n:
            self.failures.append(
                f"jobrelay ({run}): {proc.stdout.count('succeeded')} of {n} succeeded: "
                + proc.stderr.strip()[-300:]
            )
        return took

    # -- the controller API ----------------------------------------------------
    def submit(self, bodies: list[str], run: str) -> list[JobRecord]:
        paths = {b: self.script(f"s{abs(hash(b))}.sh", b) for b in set(bodies)}
        items = [SubmitItem(paths[b], f"j{i}") for i, b in enumerate(bodies)]
        jobs: list[JobRecord] = self.run(self.controller.submit(items, "bench", run))
        return jobs

    def poll(self, jobs: list[JobRecord]) -> list[JobRecord]:
        polled: list[JobRecord] = self.run(self.controller.poll(jobs))
        return polled

    def kill(self, jobs: list[JobRecord]) -> list[JobRecord]:
        killed: list[JobRecord] = self.run(self.controller.kill(jobs))
        return killed

    def find(self, run: str) -> list[JobRecord]:
        return self.ledger.find(run=run)

    def requests(self, jobs: list[JobRecord]) -> list[JobRequest]:
        """What the controller sends for ``jobs`` when none is final in its ledger:
        a stamp for each file it read before and that had no exit then."""
        return [self.controller.seen.poll_request(job) for job in jobs]

    def session_poll(self, jobs: list[JobRecord]) -> float:
        """The poll's agent call through the controller's own caller (its session)."""
        platform = self.controller.platform("bench")
        caller = self.controller.caller(platform)
        requests = self.requests(jobs)
        t0 = time.perf_counter()
        reply = self.run(caller.call(self.host, "poll", requests, 120))
        took = time.perf_counter() - t0
        self._check(reply, len(jobs), "session poll")
        return took

    def oneshot_poll(self, jobs: list[JobRecord], platform_name: str) -> float:
        """The same call made the one-shot way (a new agent process), on the
        platform's warm transport: ``bench`` multiplexed, ``bench-nomux`` not."""
        platform = self.controller.platform(platform_name)
        caller = AgentCaller(platform, self.controller.transport(platform), self.home)
        caller.agent_file  # noqa: B018 (built before the clock starts)
        requests = self.requests(jobs)
        t0 = time.perf_counter()
        reply = self.run(caller.call(self.host, "poll", requests, 120))
        took = time.perf_counter() - t0
        self._check(reply, len(jobs), f"one-shot poll ({platform_name})")
        return took

    def controller_poll(self, jobs: list[JobRecord], run: str) -> float:
        """``Controller.poll`` of ``jobs`` with the ledger, in the cycle that finds
        the finished half ended: the bench first puts those back to ``running``
        in its ledger (the status files on the host are left as they are)."""
        with self.ledger._write() as db:  # the bench's own reset, never done by jobrelay
            db.execute(
                "UPDATE jobs SET state = 'running', exit_code = NULL, exit_source = NULL"
                " WHERE run = ? AND state = 'succeeded'",
                (run,),
            )
        fresh = self.ledger.find(run=run)
        t0 = time.perf_counter()
        polled = self.poll(fresh)
        took = time.perf_counter() - t0
        done = sum(j.state.is_final for j in polled)
        if done != len(jobs) // 2:
            self.failures.append(f"jobrelay controller poll: {done} final, not {len(jobs) // 2}")
        return took

    def _check(self, reply: AgentReply, n: int, what: str) -> None:
        if not reply.complete or len(reply.replies) != n:
            self.failures.append(f"jobrelay {what}: {len(reply.replies)} of {n}: {reply.error}")
