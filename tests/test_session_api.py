"""The library path a scheduler uses: Session + Controller, no CLI."""

from __future__ import annotations

import asyncio
from pathlib import Path

from jobrelay.manager.controller import SubmitItem
from jobrelay.manager.waiting import wait_final
from jobrelay.session import Session
from jobrelay.states import JobState


def test_a_scheduler_submits_and_follows_jobs_from_python(tmp_path: Path) -> None:
    config = tmp_path / "platforms.toml"
    config.write_text(f'[platforms.localhost]\nrun_root = "{tmp_path / "root"}"\n')
    ok = tmp_path / "ok.sh"
    ok.write_text("echo ok\n")
    bad = tmp_path / "bad.sh"
    bad.write_text("exit 7\n")

    async def scenario() -> list[tuple[str, JobState, int | None]]:
        async with Session.open(config, home=tmp_path / "home") as jr:
            jobs = await jr.controller.submit(
                [SubmitItem(ok, "ok"), SubmitItem(bad, "bad", {"time_limit": 60})],
                "localhost",
                run="cycle-1",
            )
            assert [j.ref for j in jobs] == ["cycle-1/1", "cycle-1/2"]
            final = await wait_final(jr.controller, [j.id for j in jobs], timeout=60)
            return [(j.name, j.state, j.exit_code) for j in final]

    assert asyncio.run(scenario()) == [
        ("ok", JobState.SUCCEEDED, 0),
        ("bad", JobState.FAILED, 7),
    ]
