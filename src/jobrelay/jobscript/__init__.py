"""jobscript layer."""
