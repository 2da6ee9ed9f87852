"""The library entry point: what a scheduler uses to drive jobrelay from Python.

    async with Session.open() as jr:
        jobs = await jr.controller.submit([SubmitItem(Path("a.sh"), "a")], "hpc", run="r1")
        jobs = await jr.controller.poll(jobs)

It finds the config and the state dir the way the CLI does, opens the ledger
and closes connections (SSH masters) on the way out.
"""

from __future__ import annotations

from pathlib import Path
from types import TracebackType

from .host_dataclasses import dataclass
from .ledger.store import Ledger
from .manager.controller import Controller
from .platforms.config import load_platforms
from .state_dir import home_dir as home_dir
from .state_dir import ready_home


@dataclass
class Session:
    home: Path
    ledger: Ledger
    controller: Controller

    @classmethod
    def open(cls, config: Path | str | None = None, home: Path | None = None) -> Session:
        home = ready_home(home)
        platforms = load_platforms(config)
        ledger = Ledger.open(home / "ledger.sqlite")
        return cls(home, ledger, Controller(home, platforms, ledger))

    async def close(self) -> None:
        try:
            await self.controller.close()
        finally:
            self.ledger.close()

    async def __aenter__(self) -> Session:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()
