"""jobrelay as a PSI/J executor (``pip install jobrelay[psij]``): docs/psij.md.

PSI/J finds it through ``psij-descriptors/jobrelay_descriptor.py``; nothing
here is imported unless PSI/J (or a user) asks for the executor.
"""
