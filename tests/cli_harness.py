"""Run the real `jobrelay` CLI in a subprocess against a private home and run root."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Cli:
    home: Path
    config: Path
    run_root: Path

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env["JOBRELAY_HOME"] = str(self.home)
        env["JOBRELAY_CONFIG"] = str(self.config)
        env["PYTHONPATH"] = str(ROOT / "src") + os.pathsep + env.get("PYTHONPATH", "")
        return env

    def argv(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "jobrelay", *args]

    def run(
        self, *args: str, check: bool = True, timeout: float = 300, stdin: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            self.argv(*args),
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=timeout,
            input=stdin,
        )
        if check and proc.returncode not in (0, 1):
            raise AssertionError(
                f"jobrelay {' '.join(args)} exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
            )
        return proc

    def json(self, *args: str, timeout: float = 300) -> list[dict[str, Any]]:
        proc = self.run(*args, "--json", timeout=timeout)
        return [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]

    def job_dir(self, job: dict[str, Any]) -> Path:
        return self.run_root / job["job_dir"]


def local_cli(tmp: Path, extra_toml: str = "") -> Cli:
    run_root = tmp / "run-root"
    config = tmp / "platforms.toml"
    config.write_text(
        f'[platforms.localhost]\nrun_root = "{run_root}"\n' + extra_toml, encoding="utf-8"
    )
    return Cli(home=tmp / "home", config=config, run_root=run_root)
