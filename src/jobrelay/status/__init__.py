"""The job status file: its keys, the bash wrapper that writes it, the parser that reads it."""
