"""Rates like ``6/1min`` or ``50/2min``: at most COUNT events in any PERIOD.

Used for the polling budget (runner queries and new ssh connections per
endpoint) and the submit rate. ``unlimited`` turns a limit off.
"""

from __future__ import annotations

import re

from ..host_dataclasses import dataclass

# a pattern, compiled at its first use (re keeps it): a config with no rate compiles none
_RATE_RE = r"\s*(\d+)\s*/\s*(\d*\.?\d*)\s*(s|sec|min|m|h)?\s*"
_UNITS = {None: 1.0, "s": 1.0, "sec": 1.0, "min": 60.0, "m": 60.0, "h": 3600.0}


@dataclass(frozen=True)
class Rate:
    """At most ``count`` events in any window of ``period`` seconds (0: unlimited)."""

    count: int
    period: float

    @property
    def unlimited(self) -> bool:
        return self.count == 0

    @property
    def interval(self) -> float:
        """The mean spacing the rate allows: answers this young are shared."""
        return 0.0 if self.unlimited else self.period / self.count

    def __str__(self) -> str:
        if self.unlimited:
            return "unlimited"
        period = f"{self.period / 60:g}min" if self.period % 60 == 0 else f"{self.period:g}s"
        return f"{self.count}/{period}"


UNLIMITED = Rate(0, 0.0)


def parse_rate(text: str) -> Rate:
    """``"6/1min"``, ``"50/2min"``, ``"10/s"``, ``"1/10s"``, ``"unlimited"``; ValueError else."""
    if text.strip() == "unlimited":
        return UNLIMITED
    match = re.fullmatch(_RATE_RE, text)
    if match is None:
        raise ValueError(f"{text!r} is not a rate like '6/1min', '10/s' or 'unlimited'")
    count, amount, unit = int(match[1]), match[2], match[3]
    period = (float(amount) if amount not in ("", ".") else 1.0) * _UNITS[unit]
    if count < 1 or period <= 0:
        raise ValueError(f"{text!r}: the count and the period must be positive")
    return Rate(count, period)
