"""``python3 -m jobrelay.gate`` (and the entry of the gate's zipapp)."""

from __future__ import annotations

import sys

from jobrelay.gate.main import main

sys.exit(main())
