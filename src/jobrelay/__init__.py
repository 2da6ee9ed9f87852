"""jobrelay: remote job management (submit, poll, kill) through job runners."""

__version__ = "0.1.0"
