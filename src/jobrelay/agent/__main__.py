"""``python3 -m jobrelay.agent`` and the zipapp's entry."""

import sys

from jobrelay.agent.main import main

sys.exit(main())
