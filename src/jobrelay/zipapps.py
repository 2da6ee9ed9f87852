"""Build jobrelay's one-file programs for job hosts: the agent and the gate.

Both are zipapps of host-side modules only (standard library, Python 3.8+)
and deterministic (fixed timestamps, sorted entries): the same code gives
the same bytes. The agent is named by its content,
``agent-<version>-<hash>.pyz``, so a host that has a file of that name has
exactly this agent, and any change of code is a new name (that is how a
version mismatch is detected and fixed). Each module travels with its
bytecode for the building interpreter: zipimport cannot cache bytecode, and
compiling at every start would double the agent's start; another Python
version falls back to the source. Entries are stored, not deflated:
inflating some 40 modules at every start costs about 2 ms.

Controller-side. ``python3 -m jobrelay.zipapps gate DEST`` writes the gate.
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

from . import __version__

PACKAGE_ROOT = Path(__file__).resolve().parent
# The agent's part of the layering: everything it may import.
AGENT_PACKAGES = ("status", "jobscript", "runners", "engine", "agent", "gate")
GATE_PACKAGES = ("gate",)
TOP_MODULES = (
    "__init__.py",
    "states.py",
    "host_dataclasses.py",
    "light_dataclasses.py",
    "processes.py",
)
GATE_TOP_MODULES = ("host_dataclasses.py", "light_dataclasses.py")


def _entry(module: str) -> bytes:
    # use_light: host-side classes are built without the costly standard dataclasses
    return (
        "import sys\nimport jobrelay.host_dataclasses\njobrelay.host_dataclasses.use_light()\n"
        f"from {module} import main\nsys.exit(main())\n"
    ).encode()


AGENT_MAIN = _entry("jobrelay.agent.main")
GATE_MAIN = _entry("jobrelay.gate.main")
GATE_INIT = b'"""jobrelay (gate only)."""\n'
SHEBANG = b"#!/usr/bin/env python3\n"
EPOCH = (1980, 1, 1, 0, 0, 0)


def _source_paths(packages: tuple[str, ...], top: tuple[str, ...]) -> list[tuple[str, Path]]:
    files = [(f"jobrelay/{name}", PACKAGE_ROOT / name) for name in top]
    for pkg in packages:
        base = PACKAGE_ROOT / pkg
        for path in sorted(base.iterdir()) if base.is_dir() else ():
            if path.suffix in (".py", ".sh") and path.name != "__main__.py":
                files.append((f"jobrelay/{pkg}/{path.name}", path))
    return sorted(files)


def _pyc(arcname: str, source: bytes) -> bytes:
    code = compile(source, arcname, "exec", dont_inherit=True, optimize=0)
    # Unchecked hash-based pyc (PEP 552): valid whatever the zip's timestamps.
    flags = (1).to_bytes(4, "little")
    digest = importlib.util.source_hash(source)
    return importlib.util.MAGIC_NUMBER + flags + digest + marshal.dumps(code)


def _zipapp(main: bytes, files: list[tuple[str, bytes]], prefix: bytes = b"") -> bytes:
    buf = io.BytesIO()
    buf.write(prefix)
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:

        def add(name: str, data: bytes) -> None:
            info = zipfile.ZipInfo(name, EPOCH)
            info.compress_type = zipfile.ZIP_STORED
            info.external_attr = 0o644 << 16
            zf.writestr(info, data)

        add("__main__.py", main)
        for arcname, data in files:
            add(arcname, data)
            if arcname.endswith(".py"):
                add(arcname + "c", _pyc(arcname, data))
    return buf.getvalue()


def agent_bytes() -> bytes:
    files = [(arc, path.read_bytes()) for arc, path in _source_paths(AGENT_PACKAGES, TOP_MODULES)]
    return _zipapp(AGENT_MAIN, files)


def gate_bytes() -> bytes:
    files = [
        (arc, path.read_bytes()) for arc, path in _source_paths(GATE_PACKAGES, GATE_TOP_MODULES)
    ]
    files.append(("jobrelay/__init__.py", GATE_INIT))
    return _zipapp(GATE_MAIN, sorted(files), prefix=SHEBANG)


def agent_name(data: bytes) -> str:
    return f"agent-{__version__}-{hashlib.sha256(data).hexdigest()[:12]}.pyz"


def _fingerprint() -> str:
    """What the agent build depends on: each source's path, size and mtime (stat only)."""
    parts = [__version__]
    for arc, path in _source_paths(AGENT_PACKAGES, TOP_MODULES):
        st = path.stat()
        parts.append(f"{arc}:{st.st_size}:{st.st_mtime_ns}")
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def build_agent(dest_dir: Path) -> Path:
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
    data = agent_bytes()
    dest_dir.mkdir(parents=True, exist_ok=True)
    path = dest_dir / agent_name(data)
    if not path.exists() or path.read_bytes() != data:
        _write_atomically(path, data)
    _write_atomically(memo, json.dumps({"name": path.name, "fingerprint": fingerprint}).encode())
    return path


def build_gate(dest: Path | str) -> Path:
    """Write the gate to ``dest`` (mode 0755, atomically) and return its path.

    Run as ``python3 -S jobrelay-gate.pyz --run-root ...`` (docs/restricted-ssh.md).
    """
    target = Path(dest)
    _write_atomically(target, gate_bytes(), mode=0o755)
    return target


def _write_atomically(path: Path, data: bytes, mode: int = 0o644) -> None:
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    tmp.write_bytes(data)
    os.chmod(tmp, mode)
    os.replace(tmp, path)


if __name__ == "__main__":
    import sys

    if sys.argv[1:2] != ["gate"] or len(sys.argv) > 3:
        sys.exit("usage: python3 -m jobrelay.zipapps gate [DEST]")
    print(build_gate(sys.argv[2] if len(sys.argv) > 2 else "jobrelay-gate.pyz"))
