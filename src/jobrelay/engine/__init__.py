"""The host-side verbs, written once: submit, poll and kill over many job dirs.

``Engine`` does the work; a ``JobHost`` is where it does it: the agent's
local filesystem on the job host (``agent/local_host.py``), or SSH-free's
rsync mirror with the runner's commands run on the controller
(``manager/sshfree.py``). Both give the same answers, because they run the
same code.

Host-side: standard library only, Python 3.8+.
"""
