"""troika driven as its documentation says: one ``troika submit`` / ``monitor`` / ``kill``
per job, with a site of type ``direct`` over an ``ssh`` connection.

With that site the job is ``ssh HOST bash -s < script`` detached on the
submitting machine; its job id is the pid of that local ssh client,
``monitor`` starts ``ps`` on that pid locally (which writes ``SCRIPT.stat``
after troika has exited: the bench waits for it) and
``kill`` signals that local process: nothing runs on the host but the job.
One troika process per job and verb: they are run CONCURRENCY at a time.
"""

from __future__ import annotations

import concurrent.futures
import json
import subprocess
import time
from pathlib import Path

TROIKA_VENV = Path("/opt/jobrelay-bench/troika-venv")
TROIKA = str(TROIKA_VENV / "bin" / "troika")
CONCURRENCY = 4
STAT_WAIT = 10.0  # seconds for the ps that troika monitor leaves behind to write its answer


def troika_version() -> str:
    out = subprocess.run([TROIKA, "--version"], capture_output=True, text=True).stdout
    return out.strip().replace("troika ", "")


class TroikaSite:
    def __init__(self, ssh: list[str], host: str, work: Path) -> None:
        self.host = host
        self.work = work
        work.mkdir(parents=True, exist_ok=True)
        self.config = work / "troika.yml"
        options = [*ssh[1:], "-oBatchMode=yes"]
        site = {"type": "direct", "connection": "ssh", "host": host, "ssh_options": options}
        # JSON is YAML: the site config troika reads
        self.config.write_text(json.dumps({"sites": {"benchhost": site}}))
        self.scripts: list[Path] = []

    def write_jobs(self, tag: str, bodies: list[str]) -> list[Path]:
        base = self.work / tag
        base.mkdir()
        scripts = []
        for i, body in enumerate(bodies):
            path = base / f"j{i:04d}.sh"
            path.write_text(f"#!/bin/bash\n{body}\n")
            scripts.append(path)
        return scripts

    def _troika(self, *args: str) -> subprocess.CompletedProcess[str]:
        argv = [TROIKA, "-c", str(self.config), *args]
        return subprocess.run(argv, capture_output=True, text=True)

    def _each(self, fn: object, scripts: list[Path]) -> list[object]:
        with concurrent.futures.ThreadPoolExecutor(CONCURRENCY) as pool:
            return list(pool.map(fn, scripts))  # type: ignore[arg-type]

    def submit(self, scripts: list[Path]) -> None:
        def one(script: Path) -> None:
            out = script.with_suffix(".out")
            self._troika("submit", "-o", str(out), "benchhost", str(script))

        self._each(one, scripts)

    def running(self, scripts: list[Path]) -> list[Path]:
        """``troika monitor`` each job; return those whose process is still there."""

        def one(script: Path) -> bool:
            self._troika("monitor", "benchhost", str(script))
            stat = Path(str(script) + ".stat")
            jid = Path(str(script) + ".jid").read_text().strip()
            # troika starts `ps -lyfp JID > SCRIPT.stat` and exits without waiting
            # for it: the answer is there once ps has written (its header at least)
            deadline = time.monotonic() + STAT_WAIT
            text = ""
            while time.monotonic() < deadline:
                text = stat.read_text() if stat.exists() else ""
                if text:
                    break
                time.sleep(0.005)
            lines = text.splitlines()[1:]
            return any(line.split()[2:3] == [jid] for line in lines)

        flags = self._each(one, scripts)
        return [s for s, alive in zip(scripts, flags, strict=True) if alive]

    def kill(self, scripts: list[Path]) -> None:
        self._each(lambda s: self._troika("kill", "benchhost", str(s)), scripts)
