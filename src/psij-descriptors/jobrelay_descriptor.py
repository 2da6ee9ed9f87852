"""PSI/J's discovery finds jobrelay's executor here (docs/psij.md)."""

from packaging.version import Version
from psij.descriptor import Descriptor

__PSI_J_EXECUTORS__ = [
    Descriptor(
        name="jobrelay",
        nice_name="jobrelay",
        version=Version("0.1.0"),
        cls="jobrelay.psij.executor.JobrelayJobExecutor",
    )
]
