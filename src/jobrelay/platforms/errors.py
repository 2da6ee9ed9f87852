"""The one error type for a bad platform configuration."""

from __future__ import annotations

TYPE_CHECKING = False  # importing typing costs a one-shot command's start: names for mypy only
if TYPE_CHECKING:
    from pathlib import Path


class ConfigError(Exception):
    """A configuration problem, naming where it is: the file, the platform, the key.

    ``platform`` and ``key`` are None when the problem is not inside one
    platform table (e.g. a TOML syntax error, an unknown top-level table).
    """

    def __init__(
        self, file: Path | str, platform: str | None, key: str | None, problem: str
    ) -> None:
        self.file = str(file)
        self.platform = platform
        self.key = key
        self.problem = problem
        super().__init__(self.describe())

    def describe(self) -> str:
        where = [self.file]
        if self.platform is not None:
            where.append(f"platform {self.platform!r}")
        if self.key is not None:
            where.append(f"key {self.key!r}")
        return ": ".join([*where, self.problem])
