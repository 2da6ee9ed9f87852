"""Job runners: one module per runner, all behind the interface in ``base``.

Host-side code: standard library only, Python 3.8+.
"""
