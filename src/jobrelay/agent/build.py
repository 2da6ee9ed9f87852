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
import json
import marshal
import os
import zipfile
from pathlib import Path

from .. import __version__

PACKAGE_ROOT = Path(__file__).resolve().parent.parent
# The host side of the layering: everything the agent may import.
HOST_PACKAGES = ("status", "jobscript", "runners", "engine", "agent", "gate")
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
    # Stored, not deflated: inflating some 40 modules at every start costs the
    # agent about 2 ms (of 25); the file, installed once per target, doubles.
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:

        def add(name: str, data: bytes) -> None:
            info = zipfile.ZipInfo(name, EPOCH)
            info.compress_type = zipfile.ZIP_STORED
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


def _fingerprint() -> str:
    """What the build depends on: each source's path, size and mtime (cheap: stat only)."""
    parts = [__version__]
    for name in HOST_MODULES:
        st = (PACKAGE_ROOT / name).stat()
        parts.append(f"{name}:{st.st_size}:{st.st_mtime_ns}")
    for pkg in HOST_PACKAGES:
        base = PACKAGE_ROOT / pkg
        if base.is_dir():
            for path in sorted(base.iterdir()):
                if path.suffix in (".py", ".sh"):
                    st = path.stat()
                    parts.append(f"{pkg}/{path.name}:{st.st_size}:{st.st_mtime_ns}")
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def build_zipapp(dest_dir: Path) -> Path:
    """Write the agent into ``dest_dir`` (atomically) and return its path.

    Building compiles every module (about 0.2 s), so the result is remembered
    in ``dest_dir/built.json`` against a fingerprint of the sources: a CLI call
    with unchanged code only stats the files.
    """
    memo = dest_dir / "built.json"
    fingerprint = _fingerprint()
    try:
        known = json.loads(memo.read_text())
        path = dest_dir / str(known["name"])
        if known.get("fingerprint") == fingerprint and path.is_file():
            return path
    except (OSError, ValueError, KeyError, TypeError):
        pass
    data = build_bytes()
    dest_dir.mkdir(parents=True, exist_ok=True)
    path = dest_dir / agent_name(data)
    if not path.exists() or path.read_bytes() != data:
        _write_atomically(path, data)
    _write_atomically(memo, json.dumps({"name": path.name, "fingerprint": fingerprint}).encode())
    return path


def _write_atomically(path: Path, data: bytes) -> None:
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    tmp.write_bytes(data)
    os.replace(tmp, path)
