"""The forced-command gate: what a restricted SSH key may run on a job host.

A site puts ``jobrelay-gate --run-root DIR`` in ``authorized_keys``
(``command="…"``). The gate allows the rsync server confined to the run
root and, with ``--allow-agent``, the host agent; it refuses everything else.
Host side: standard library only, Python 3.8+ (docs/restricted-ssh.md).
"""
