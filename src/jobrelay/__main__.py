"""``python -m jobrelay``: the same entry as the ``jobrelay`` command."""

from .command import main

main()
