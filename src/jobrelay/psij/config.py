"""The jobrelay executor's settings (``config=`` of ``JobExecutor.get_instance``).

Here, not in executor.py: PSI/J loads the executor's module by its file
path, a second copy whose classes are not the ones users import.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from psij import JobExecutorConfig


class JobrelayExecutorConfig(JobExecutorConfig):
    """Where jobrelay's config and ledger are, and how often the stream may look."""

    def __init__(
        self,
        config: Path | str | None = None,
        home: Path | str | None = None,
        max_delay: float = 2.0,
        **psij_options: Any,
    ) -> None:
        super().__init__(**psij_options)
        self.jobrelay_config = config  # None: $JOBRELAY_CONFIG, else the user config dir
        self.jobrelay_home = home  # None: $JOBRELAY_HOME, else the user data dir
        self.max_delay = max_delay  # seconds between looks while nothing changes
