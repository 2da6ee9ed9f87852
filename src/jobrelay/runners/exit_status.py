"""Exit codes and signals as schedulers report them. Host-side: stdlib, 3.8+."""

from __future__ import annotations

TYPE_CHECKING = False  # importing typing costs the agent 4 ms of start: names for mypy only
if TYPE_CHECKING:
    from typing import Optional, Tuple


def signal_name(number: int) -> str:
    """``15`` -> ``"TERM"``; an unknown number stays a number."""
    import signal  # here: most polls name no signal, and a one-shot `status` starts without it

    try:
        return signal.Signals(number).name[3:]
    except ValueError:
        return str(number)


def from_wait_status(status: int) -> Tuple[Optional[int], Optional[str]]:
    """A raw wait(2) status (Slurm's squeue ``exit_code``) as (exit code, signal)."""
    if status & 0x7F:
        return None, signal_name(status & 0x7F)
    return (status >> 8) & 0xFF, None


def from_code_signal(text: str) -> Tuple[Optional[int], Optional[str]]:
    """Slurm's sacct ``ExitCode`` "code:signal" as (exit code, signal)."""
    code, _, sig = text.partition(":")
    try:
        number = int(sig or "0")
        exit_code = int(code)
    except ValueError:
        return None, None
    if number:
        return None, signal_name(number)
    return exit_code, None
