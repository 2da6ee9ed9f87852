"""Keys of the job status file (contract: docs/status-file.md).

The file is append-only ``KEY=VALUE`` lines. The last value of a key wins,
``JOB_MESSAGE`` lines accumulate. Values are single-line: the writer escapes
backslash as ``\\\\`` and newline as ``\\n``.
"""

from __future__ import annotations

STATUS_FILE = "job.status"
JOB_FILE = "job"
SCRIPT_FILE = "job.script"
OUT_FILE = "job.out"
ERR_FILE = "job.err"

FORMAT_VERSION = "1"

VERSION = "JOB_STATUS_VERSION"  # format version, first line written at submit
IDENTITY = "JOB_IDENTITY"  # the submission: "<ledger id>/<job id>/<submit num>", at submit
RUNNER_NAME = "JOB_RUNNER_NAME"  # written by the agent at submit
RUNNER_ID = "JOB_RUNNER_ID"  # written by the agent at submit
SUBMIT_TIME = "JOB_SUBMIT_TIME"  # written by the agent at submit
PID = "JOB_PID"  # written by the wrapper at start
HOST = "JOB_HOST"  # written by the wrapper at start
START_TIME = "JOB_START_TIME"  # written by the wrapper at start
MESSAGE = "JOB_MESSAGE"  # TIME|SEVERITY|TEXT, repeats
EXIT = "JOB_EXIT"  # "succeeded" | "failed"
EXIT_CODE = "JOB_EXIT_CODE"  # integer exit status
EXIT_SIGNAL = "JOB_EXIT_SIGNAL"  # signal name without SIG (TERM, XCPU, KILL…)
EXIT_TIME = "JOB_EXIT_TIME"
EXIT_BY = "JOB_EXIT_BY"  # "wrapper" (default when absent) or "agent" (kill after SIGKILL)
RUNNER_FORGOT = "JOB_RUNNER_FORGOT"  # time a poll saw the runner no longer know the job

SEVERITIES = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")

# Wall-clock times in the file are ISO 8601 UTC with a Z, e.g. 2026-11-25T01:02:03Z.
