"""Build the gate as one file a site copies to a host: ``jobrelay-gate.pyz``.

Run as ``python3 -S /path/jobrelay-gate.pyz --run-root …``. The archive holds
only the gate's modules (standard library only) and is byte-for-byte the
same for the same sources (fixed timestamps, sorted names).
"""

from __future__ import annotations

import os
import stat
import zipfile
from pathlib import Path
from typing import Union

PACKAGE_DIR = Path(__file__).resolve().parent
# use_light: dataclasses without the costly standard module (jobrelay/records.py).
ENTRY = (
    "import sys\nimport jobrelay.records\njobrelay.records.use_light()\n"
    "from jobrelay.gate.main import main\nsys.exit(main())\n"
)
# Top-level modules the gate's modules import.
SHARED = ("records.py", "_light_records.py")
SHEBANG = b"#!/usr/bin/env python3\n"
FIXED_TIME = (1980, 1, 1, 0, 0, 0)
PACKAGE_INIT = '"""jobrelay (gate only)."""\n'


def _add(zf: zipfile.ZipFile, name: str, text: str) -> None:
    info = zipfile.ZipInfo(name, FIXED_TIME)
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = 0o644 << 16
    zf.writestr(info, text)


def build_gate_zipapp(dest: Union[str, os.PathLike[str]]) -> Path:
    """Write the gate zipapp to ``dest`` (mode 0755) and return its path."""
    target = Path(dest)
    tmp = target.with_name(target.name + ".tmp")
    with open(tmp, "wb") as raw:
        raw.write(SHEBANG)
        with zipfile.ZipFile(raw, "w") as zf:
            _add(zf, "__main__.py", ENTRY)
            _add(zf, "jobrelay/__init__.py", PACKAGE_INIT)
            for name in SHARED:
                text = (PACKAGE_DIR.parent / name).read_text(encoding="utf-8")
                _add(zf, f"jobrelay/{name}", text)
            for source in sorted(PACKAGE_DIR.glob("*.py")):
                if source.name in ("__main__.py", "zipapp_build.py"):
                    continue
                _add(zf, f"jobrelay/gate/{source.name}", source.read_text(encoding="utf-8"))
    mode = stat.S_IRWXU | stat.S_IRGRP | stat.S_IXGRP | stat.S_IROTH | stat.S_IXOTH
    os.chmod(tmp, mode)
    os.replace(tmp, target)
    return target


if __name__ == "__main__":
    import sys

    print(build_gate_zipapp(sys.argv[1] if len(sys.argv) > 1 else "jobrelay-gate.pyz"))
