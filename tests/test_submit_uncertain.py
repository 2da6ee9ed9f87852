"""A submit call that failed unreachable is "never ran" only on ssh's word
that it never reached the host; otherwise (a master killed mid-call, a
connection dropped) its jobs may be with the runner and stay `submitting`
until a poll reads their status files. Found by the soak (seed 471364760):
68 jobs judged submit-failed had run. Pure: ssh's documented messages and
exit 255, no server (the real drop is the soak's, tests/test_soak_small.py)."""

from __future__ import annotations

import pytest

from jobrelay.manager.agent_reply import AgentReply, after_tries, cut_short
from jobrelay.processes import CommandResult
from jobrelay.transport.ssh import _outcome


@pytest.mark.parametrize(
    ("stderr", "never"),
    [
        ("ssh: connect to host host1 port 22: Connection refused\r\n", True),
        ("ssh: connect to host host1 port 22: Connection timed out\r\n", True),
        ("ssh: Could not resolve hostname nohost: Name or service not known\r\n", True),
        ("mux_client_read_packet: read header failed: Broken pipe\r\n", False),
        ("Connection to host1 closed by remote host.\r\n", False),
        ("client_loop: send disconnect: Broken pipe\r\n", False),
        ("", False),
    ],
)
def test_only_a_connect_failure_says_nothing_ran(stderr: str, never: bool) -> None:
    outcome = _outcome(CommandResult(("ssh",), 255, "", stderr))
    assert outcome.unreachable and outcome.never_connected is never


def test_ssh_that_could_not_start_ran_nothing() -> None:
    outcome = _outcome(CommandResult(("ssh",), None, "", "", start_error="No such file: 'ssh'"))
    assert outcome.never_connected


def test_a_later_try_cannot_unsay_an_earlier_one_that_may_have_run() -> None:
    dropped = AgentReply("h", unreachable=True, error="Broken pipe")
    refused = AgentReply("h", unreachable=True, error="refused", not_started=True)
    assert cut_short(dropped) and not cut_short(refused)
    assert after_tries(refused, earlier_cut_short=True).not_started is False
    assert after_tries(refused, earlier_cut_short=False).not_started is True
