"""A stand-in for OAR's user commands, for tests: no OAR server runs here.

``python3 oar_emulator.py oarsub|oarstat|oardel ARGS...`` answers as OAR
2.5's documentation and man pages say (oarsub(1), oarstat(1), oardel(1),
https://oar.imag.fr/docs/latest/user/commands/), for the subset the oar
runner plugin uses:

- ``oarsub -S SCRIPT``: reads the script's ``#OAR`` lines, prints an
  admission-rule line and ``OAR_JOB_ID=N``. The job really runs: the script
  (executable, as OAR runs it) starts detached, in its own process group,
  its output and error in the files ``#OAR -O``/``-E`` name (default
  ``OAR.N.stdout``/``.stderr``); ``#OAR --hold`` leaves it in Hold.
- ``oarstat -s -j N [-j N ...]``: ``N: State`` per known job (Running,
  Hold, Terminated, Error), in no promised order; unknown ids are left out.
- ``oardel N ...``: ``Deleting the job = N ...REGISTERED.`` and SIGTERM to
  the job's process group; ``...ERROR.`` and "Cannot frag N ; This job was
  already killed." on stderr (exit 6) for a job that already ended (OAR's
  answer for an id it never issued is not documented: the same here).

State lives in ``$OAR_EMULATOR_STATE``: ``N.job`` (the script), ``N.pid``,
``N.hold``, ``N.deleted``, ``N.exit``.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

STATE = Path(os.environ["OAR_EMULATOR_STATE"])
OPTION = re.compile(r"^#OAR\s+(\S+)(?:\s+(\S.*?))?\s*$", re.M)


def oarsub(args: list[str]) -> int:
    if len(args) != 2 or args[0] != "-S":
        print("oarsub: this emulator knows only 'oarsub -S SCRIPT'", file=sys.stderr)
        return 1
    script = os.path.abspath(args[1])
    options = dict(OPTION.findall(Path(script).read_text()))
    with open(STATE / "lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # jobrelay runs several oarsub at once
        job = str(len(list(STATE.glob("*.job"))) + 1)
        (STATE / f"{job}.job").write_text(script)
    if "--hold" in options:
        (STATE / f"{job}.hold").touch()
    else:
        out = options.get("-O") or f"OAR.{job}.stdout"
        err = options.get("-E") or f"OAR.{job}.stderr"
        done = str(STATE / f"{job}.exit")
        proc = subprocess.Popen(
            ["bash", "-c", '"$1" >"$2" 2>"$3"; echo $? >"$4"', "oarexec", script, out, err, done],
            start_new_session=True,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        (STATE / f"{job}.pid").write_text(str(proc.pid))
    print("[ADMISSION RULE] Set default walltime to 7200.")
    print(f"OAR_JOB_ID={job}")
    return 0


def state(job: str) -> str:
    if (STATE / f"{job}.deleted").exists():
        return "Error"
    if (STATE / f"{job}.exit").exists():
        return "Terminated"
    if (STATE / f"{job}.hold").exists():
        return "Hold"
    return "Running"


def oarstat(args: list[str]) -> int:
    ids = [args[i + 1] for i, arg in enumerate(args[:-1]) if arg == "-j"]
    if "-s" not in args or not ids:
        print("--state can only be used with an id", file=sys.stderr)
        return 1
    for job in reversed(ids):  # printed from a Perl hash: no order is promised
        if (STATE / f"{job}.job").exists():
            print(f"{job}: {state(job)}")
    return 0


def oardel(args: list[str]) -> int:
    rc, registered = 0, []
    for job in args:
        print(f"Deleting the job = {job} ...", end="")
        if not (STATE / f"{job}.job").exists() or state(job) in ("Error", "Terminated"):
            print("ERROR.")
            print(f"Cannot frag {job} ; This job was already killed.", file=sys.stderr)
            rc = 6
            continue
        (STATE / f"{job}.deleted").touch()
        pid = STATE / f"{job}.pid"
        if pid.exists():
            with contextlib.suppress(ProcessLookupError):  # it ended between look and signal
                os.killpg(int(pid.read_text()), signal.SIGTERM)
        print("REGISTERED.")
        registered.append(job)
    if registered:
        print(f"The job(s) [ {' '.join(registered)} ] will be deleted in a near future.")
    return rc


if __name__ == "__main__":
    commands = {"oarsub": oarsub, "oarstat": oarstat, "oardel": oardel}
    sys.exit(commands[sys.argv[1]](sys.argv[2:]))
