"""Quote text for bash so any value reads back exactly, whatever it holds.

Host-side: standard library only, Python 3.8+.
"""

from __future__ import annotations

import re

# fullmatch, not ^…$: "$" also matches before a trailing newline.
_SAFE = re.compile(r"[A-Za-z0-9_@%+=:,./-]+")
_PRINTABLE_ASCII = re.compile(r"[\x20-\x7e]*")


def bash_quote(text: str) -> str:
    """One bash word that expands to exactly ``text``.

    Plain words stay bare; printable ASCII goes in single quotes; anything
    else (newlines, control characters, non-ASCII) becomes ``$'...'`` with
    every such byte written as ``\\xHH``, so the job file is pure ASCII and
    the value does not depend on the locale bash runs in. The result never
    holds a newline, so it is also safe inside a ``#`` comment.
    """
    if _SAFE.fullmatch(text):
        return text
    if _PRINTABLE_ASCII.fullmatch(text):
        return "'" + text.replace("'", "'\\''") + "'"
    out = ["$'"]
    for byte in _encode(text):
        if byte in (0x5C, 0x27):  # backslash, single quote
            out.append("\\" + chr(byte))
        elif 0x20 <= byte <= 0x7E:
            out.append(chr(byte))
        else:
            out.append(f"\\x{byte:02x}")
    out.append("'")
    return "".join(out)


def _encode(text: str) -> bytes:
    try:  # surrogate-escaped bytes (from os.fsdecode and the like) go back to bytes
        return text.encode("utf-8", errors="surrogateescape")
    except UnicodeEncodeError:  # other lone surrogates: keep them, best effort
        return text.encode("utf-8", errors="surrogatepass")
