"""SSH-free caller: what it refuses before any host is contacted, and the request field it reads."""

from __future__ import annotations

from pathlib import Path

import pytest

from jobrelay.engine.protocol import JobRequest, Request, parse_request
from jobrelay.manager.controller import ControllerError, make_caller
from jobrelay.manager.sshfree import SshFreeCaller
from jobrelay.platforms.connect import transport_for
from jobrelay.platforms.model import Platform, TransportKind
from jobrelay.runners.slurm import SlurmRunner


def plat(**kw: object) -> Platform:
    base: dict[str, object] = {
        "name": "h",
        "hosts": ("h",),
        "transport": TransportKind.SSH_FREE,
        "runner": "slurm",
        "run_root": "/srv/run",
    }
    base.update(kw)
    return Platform(**base)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("changes", "said"),
    [
        ({"runner": "background"}, "works with the runner(s) slurm, not 'background'"),
        ({"runner": "at"}, "not 'at'"),
        ({"runner": "no-such-runner"}, "no-such-runner"),
        ({"run_root": "~/jobrelay-run"}, "needs an absolute run_root"),
    ],
)
def test_platforms_that_cannot_work_ssh_free_are_refused(
    changes: dict[str, object], said: str, tmp_path: Path
) -> None:
    p = plat(**changes)
    with pytest.raises(ControllerError, match="platform 'h'") as caught:
        make_caller(p, transport_for(p), tmp_path)
    assert said in str(caught.value)


def test_a_slurm_platform_gets_the_ssh_free_caller(tmp_path: Path) -> None:
    p = plat(cluster="RjTest2", runner_prefix=("runuser", "-u", "bob", "--"))
    caller = make_caller(p, transport_for(p), tmp_path)
    assert isinstance(caller, SshFreeCaller)
    runner = SlurmRunner(caller.options)
    assert runner.cluster == "rjtest2"
    assert runner.options.command_prefix == ("runuser", "-u", "bob", "--")


def test_runner_id_travels_in_the_request_and_is_optional() -> None:
    req = Request(verb="poll", run_root="/r", jobs=[JobRequest(job="a", dir="d", runner_id="7;c")])
    assert parse_request(req.to_json()).jobs[0].runner_id == "7;c"
    old = '{"v":1,"verb":"poll","run_root":"/r","jobs":[{"job":"a","dir":"d"}]}'
    assert parse_request(old).jobs[0].runner_id == ""
