"""A trailing newline must never pass a "safe text" check.

In Python regexes ``$`` also matches just before a final newline, so a
pattern like ``^[a-z]+$`` accepts "abc\\n". Each check below once had that
hole; these cases keep it shut.
"""

from __future__ import annotations

import subprocess

import pytest

from jobrelay.gate.agent_command import AGENT_NAME_RE, INTERPRETER_RE
from jobrelay.jobscript.quoting import bash_quote
from jobrelay.runners.base import check_id
from jobrelay.runners.directive_text import directive_token


@pytest.mark.parametrize("text", ["abc\n", "\n", "a b\n", "x\n\n"])
def test_bash_quote_never_emits_a_newline_and_round_trips(text: str) -> None:
    quoted = bash_quote(text)
    assert "\n" not in quoted
    out = subprocess.run(
        ["bash", "-c", f"printf '%s' {quoted}"], capture_output=True, check=True
    ).stdout
    assert out.decode() == text


@pytest.mark.parametrize("runner_id", ["12\n", "12;rjtest2\n"])
def test_runner_ids_with_a_newline_are_refused(runner_id: str) -> None:
    with pytest.raises(ValueError):
        check_id(runner_id)


def test_directive_values_with_a_newline_are_refused() -> None:
    with pytest.raises(ValueError):
        directive_token("short\n")


def test_gate_agent_patterns_refuse_a_trailing_newline() -> None:
    assert INTERPRETER_RE.match("python3\n") is None
    assert AGENT_NAME_RE.match("agent-0.1.0-abc.pyz\n") is None
