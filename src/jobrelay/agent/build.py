"""Build the host agent into one file (a zipapp) the controller installs on hosts.

The archive is deterministic (fixed timestamps, sorted entries), so the same
code gives the same bytes and the same name: ``agent-<version>-<hash>.pyz``.
A host that has a file of that name has exactly this agent; any change of
code is a new name, which is how a version mismatch is detected and fixed.
It carries compiled bytecode for the building interpreter next to the
sources: zipimport cannot cache bytecode, and compiling on every start would
double the agent's start time; another Python version falls back to source.

Controller-side.
"""

from __future__ import annotations

import hashlib
import importlib.util
import io
import marshal
import os
import zipfile
from pathlib import Path

from .. import __version__

PACKAGE_ROOT = Path(__file__).resolve().parent.parent
# The host side of the layering: everything the agent may import.
HOST_PACKAGES = ("status", "jobscript", "runners", "agent", "gate")
HOST_MODULES = ("__init__.py", "states.py", "records.py", "_light_records.py")
# use_light: the agent builds its dataclasses without the costly standard module (records.py).
MAIN = (
    b"import sys\nimport jobrelay.records\njobrelay.records.use_light()\n"
    b"from jobrelay.agent.main import main\nsys.exit(main())\n"
)
EPOCH = (1980, 1, 1, 0, 0, 0)


def _sources() -> list[tuple[str, bytes]]:
    files: list[tuple[str, bytes]] = []
    for name in HOST_MODULES:
        files.append((f"jobrelay/{name}", (PACKAGE_ROOT / name).read_bytes()))
    for pkg in HOST_PACKAGES:
        base = PACKAGE_ROOT / pkg
        if not base.is_dir():
            continue
        for path in sorted(base.iterdir()):
            if path.suffix in (".py", ".sh") and path.name != "build.py":
                files.append((f"jobrelay/{pkg}/{path.name}", path.read_bytes()))
    return sorted(files)


def _pyc(arcname: str, source: bytes) -> bytes:
    code = compile(source, arcname, "exec", dont_inherit=True, optimize=0)
    # Unchecked hash-based pyc (PEP 552): valid whatever the zip's timestamps.
    flags = (1).to_bytes(4, "little")
    digest = importlib.util.source_hash(source)
    return importlib.util.MAGIC_NUMBER + flags + digest + marshal.dumps(code)


def build_bytes() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:

        def add(name: str, data: bytes) -> None:
            info = zipfile.ZipInfo(name, EPOCH)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, data)

        add("__main__.py", MAIN)
        for arcname, data in _sources():
            add(arcname, data)
            if arcname.endswith(".py"):
                add(arcname + "c", _pyc(arcname, data))
    return buf.getvalue()


def agent_name(data: bytes) -> str:
    return f"agent-{__version__}-{hashlib.sha256(data).hexdigest()[:12]}.pyz"


def build_zipapp(dest_dir: Path) -> Path:
    """Write the agent into ``dest_dir`` (atomically) and return its path."""
    data = build_bytes()
    dest_dir.mkdir(parents=True, exist_ok=True)
    path = dest_dir / agent_name(data)
    if not path.exists() or path.read_bytes() != data:
        tmp = path.with_suffix(f".tmp{os.getpid()}")
        tmp.write_bytes(data)
        os.replace(tmp, path)
    return path
