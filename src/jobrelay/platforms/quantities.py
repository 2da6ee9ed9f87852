"""Parse the human forms of durations and memory sizes used in the config.

One parse function per format; each raises ValueError with a message that
says what forms are accepted (the caller adds file, platform and key).
"""

from __future__ import annotations

import re

_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_UNITS_RE = re.compile(r"(\d+)([smhd])")
_CLOCK_RE = re.compile(r"(?:(\d+)-)?(\d+):(\d{1,2}):(\d{1,2})")
_MEMORY_RE = re.compile(r"(\d+)\s*([KMGT]?)(?:i?B)?", re.IGNORECASE)
_MEMORY_FACTOR_KB = {"K": 1, "": 1024, "M": 1024, "G": 1024**2, "T": 1024**3}

DURATION_FORMS = 'seconds (int), "HH:MM:SS", "D-HH:MM:SS" or units like "30m", "1h30m", "2d"'
MEMORY_FORMS = 'megabytes (int) or a size like "500M", "4G", "1T", "2048K"'


def parse_duration(value: object) -> int:
    """Seconds from an int or a string; the result is > 0.

    >>> parse_duration("1:30:00"), parse_duration("30m"), parse_duration("1-00:00:01")
    (5400, 1800, 86401)
    """
    if isinstance(value, bool):
        raise ValueError(f"expected {DURATION_FORMS}, got a boolean")
    if isinstance(value, int):
        seconds = value
    elif isinstance(value, str):
        seconds = _duration_text(value.strip())
    else:
        raise ValueError(f"expected {DURATION_FORMS}, got {type(value).__name__}")
    if seconds <= 0:
        raise ValueError(f"must be more than 0 seconds, got {value!r}")
    return seconds


def _duration_text(text: str) -> int:
    clock = _CLOCK_RE.fullmatch(text)
    if clock:
        days, hours, minutes, secs = clock.groups()
        if int(minutes) > 59 or int(secs) > 59:
            raise ValueError(f"minutes and seconds must be below 60 in {text!r}")
        return int(days or 0) * 86400 + int(hours) * 3600 + int(minutes) * 60 + int(secs)
    if text and _UNITS_RE.sub("", text) == "":
        return sum(int(n) * _UNIT_SECONDS[u] for n, u in _UNITS_RE.findall(text))
    raise ValueError(f"cannot read {text!r} as a duration: use {DURATION_FORMS}")


def parse_memory_mb(value: object) -> int:
    """Megabytes (rounded up) from an int (MB) or a size string; the result is > 0.

    >>> parse_memory_mb("4G"), parse_memory_mb("500M"), parse_memory_mb("1500K")
    (4096, 500, 2)
    """
    if isinstance(value, bool):
        raise ValueError(f"expected {MEMORY_FORMS}, got a boolean")
    if isinstance(value, int):
        megabytes = value
    elif isinstance(value, str):
        match = _MEMORY_RE.fullmatch(value.strip())
        if not match:
            raise ValueError(f"cannot read {value!r} as a memory size: use {MEMORY_FORMS}")
        kilobytes = int(match.group(1)) * _MEMORY_FACTOR_KB[match.group(2).upper()]
        megabytes = -(-kilobytes // 1024)  # round up: never ask for less than was written
    else:
        raise ValueError(f"expected {MEMORY_FORMS}, got {type(value).__name__}")
    if megabytes <= 0:
        raise ValueError(f"must be more than 0, got {value!r}")
    return megabytes
