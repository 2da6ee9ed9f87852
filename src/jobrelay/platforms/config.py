"""Read ``[platforms.NAME]`` tables from TOML into typed ``Platform`` objects.

Every problem raises ``ConfigError`` naming the file, the platform and the
key; nothing unknown is ignored (a typo must not silently become a default).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping

from jobrelay.runners.directives import DirectiveError, Directives, read_directives

from .. import config_cache
from .errors import ConfigError
from .model import LOCALHOST, Platform, Selection, TransportKind, embedded_default
from .rates import Rate, parse_rate

TYPE_CHECKING = False  # importing typing costs a one-shot command's start: names for mypy only
if TYPE_CHECKING:
    from pathlib import Path
    from typing import Any

ENV_CONFIG = "JOBRELAY_CONFIG"
# a pattern, compiled at its first use (re keeps it): a cached config compiles none
NAME_RE = r"[A-Za-z0-9][A-Za-z0-9_.-]*"
HOST_RE = re.compile(r"[^\s\-][^\s]*")  # no blanks; a leading "-" would read as an ssh option


class _Problem(ValueError):
    """A value is wrong; the caller knows where (file, platform, key)."""


def default_config_path(environ: Mapping[str, str] | None = None) -> Path:
    from pathlib import Path

    return Path(_default_config_text(os.environ if environ is None else environ))


def _default_config_text(env: Mapping[str, str]) -> str:
    base = env.get("XDG_CONFIG_HOME") or os.path.join(
        os.path.expanduser(env.get("HOME", "~")), ".config"
    )
    return os.path.join(base, "jobrelay", "platforms.toml")


def find_config(
    explicit: Path | str | None = None, environ: Mapping[str, str] | None = None
) -> tuple[Path | None, bool]:
    """The config file to read and whether it was asked for by name.

    Order: ``explicit``, else ``$JOBRELAY_CONFIG``, else the user config dir.
    A named file must exist; the user config dir's file may be absent.
    """
    from pathlib import Path

    where, named = _config_text(explicit, environ)
    return Path(where), named


def _config_text(
    explicit: Path | str | None, environ: Mapping[str, str] | None
) -> tuple[str, bool]:
    """``find_config`` without pathlib (and urllib.parse, ipaddress with it): a
    one-shot command reads its config by this."""
    env = os.environ if environ is None else environ
    if explicit is not None:
        return os.fspath(explicit), True
    if env.get(ENV_CONFIG):
        return env[ENV_CONFIG], True
    return _default_config_text(env), False


def load_platforms(
    explicit: Path | str | None = None, environ: Mapping[str, str] | None = None
) -> dict[str, Platform]:
    """The platforms in effect: the discovered file's, or the embedded default."""
    path, named = _config_text(explicit, environ)
    if not named and not os.path.exists(path):
        return embedded_default()
    return load_config(path)


def load_config(path: Path | str) -> dict[str, Platform]:
    """Parse one config file. ``localhost`` exists unless the file defines its own."""
    document = config_cache.cached(os.fspath(path))
    if document is None:
        document = _read_toml(path)
        config_cache.keep(os.fspath(path), document)
    return parse_document(document, path)


def _read_toml(path: Path | str) -> dict[str, Any]:
    import tomllib  # here: its import is a tenth of a one-shot command's start

    try:
        with open(path, "rb") as stream:
            return tomllib.load(stream)
    except OSError as exc:
        raise ConfigError(path, None, None, f"cannot read: {exc.strerror or exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(path, None, None, f"not valid TOML: {exc}") from exc
    except UnicodeDecodeError as exc:  # tomllib reads UTF-8 only, and says so this way
        raise ConfigError(path, None, None, f"not UTF-8 text: {exc}") from exc


def parse_document(document: Mapping[str, Any], path: Path | str) -> dict[str, Platform]:
    for key in document:
        if key != "platforms":
            raise ConfigError(path, None, key, "unknown top-level key (expected [platforms.NAME])")
    tables = document.get("platforms", {})
    if not isinstance(tables, dict):
        raise ConfigError(path, None, "platforms", "must be a table of [platforms.NAME] tables")
    platforms = embedded_default()
    for name, table in tables.items():
        if not re.fullmatch(NAME_RE, name):
            raise ConfigError(path, name, None, "platform names use letters, digits, _ . -")
        if not isinstance(table, dict):
            raise ConfigError(path, name, None, "must be a table ([platforms.NAME])")
        platforms[name] = parse_platform(name, table, path)
    return platforms


def parse_platform(name: str, table: Mapping[str, Any], path: Path | str) -> Platform:
    values: dict[str, Any] = {}
    for key, raw in table.items():
        reader = _READERS.get(key)
        if reader is None:
            known = ", ".join(sorted(_READERS))
            raise ConfigError(path, name, key, f"unknown key (known: {known})")
        try:
            values[key] = reader(raw)
        except DirectiveError as exc:
            raise _directive_error(path, name, exc) from None
        except _Problem as exc:
            raise ConfigError(path, name, key, str(exc)) from None
    transport = values.get("transport", TransportKind.LOCAL)
    if "hosts" not in values:
        if transport is not TransportKind.LOCAL:
            raise ConfigError(path, name, "hosts", f"required with transport {transport.value!r}")
        values["hosts"] = (LOCALHOST,)
    values.setdefault("install_target", LOCALHOST if transport is TransportKind.LOCAL else name)
    run_root = values.get("run_root")
    if transport is TransportKind.SSH_FREE and not (run_root and run_root.startswith("/")):
        raise ConfigError(
            path, name, "run_root", "transport 'ssh-free' needs an absolute run_root ('/...')"
        )
    return Platform(name=name, **values)


def _directive_error(path: Path | str, platform: str, exc: DirectiveError) -> ConfigError:
    """One problem names its key (``directives.cpus``); several are listed together."""
    if len(exc.problems) == 1:
        (problem,) = exc.problems
        return ConfigError(path, platform, f"directives.{problem.key}", problem.message)
    return ConfigError(path, platform, "directives", str(exc))


# ---------------------------------------------------------------- value readers


def _string(raw: object, pattern: str | None = None, what: str = "") -> str:
    if not isinstance(raw, str):
        raise _Problem(f"must be a string, got {_type(raw)}")
    if not raw:
        raise _Problem("must not be empty")
    if pattern is not None and not re.fullmatch(pattern, raw):
        raise _Problem(f"{raw!r} is not a valid {what}")
    return raw


def _strings(raw: object, *, allow_empty: bool = False) -> tuple[str, ...]:
    if not isinstance(raw, list) or not all(isinstance(x, str) for x in raw):
        raise _Problem(f"must be a list of strings, got {_type(raw)}")
    if not raw and not allow_empty:
        raise _Problem("must not be empty")
    if any(not x for x in raw):
        raise _Problem("must not hold empty strings")
    return tuple(raw)


def _hosts(raw: object) -> tuple[str, ...]:
    hosts = _strings(raw)
    for host in hosts:
        if not HOST_RE.fullmatch(host):
            raise _Problem(f"{host!r} is not a host name (no blanks, no leading '-')")
    if len(set(hosts)) != len(hosts):
        raise _Problem("lists a host twice")
    return hosts


def _choice(kind: type[Selection] | type[TransportKind]) -> Callable[[object], Any]:
    def read(raw: object) -> Any:
        text = _string(raw)
        for member in kind:
            if member.value == text:
                return member
        raise _Problem(f"{text!r} is not one of {', '.join(m.value for m in kind)}")

    return read


def _int(minimum: int) -> Callable[[object], int]:
    def read(raw: object) -> int:
        if isinstance(raw, bool) or not isinstance(raw, int):
            raise _Problem(f"must be an integer, got {_type(raw)}")
        if raw < minimum:
            raise _Problem(f"must be at least {minimum}, got {raw}")
        return raw

    return read


def _seconds(minimum: float) -> Callable[[object], float]:
    def read(raw: object) -> float:
        if isinstance(raw, bool) or not isinstance(raw, int | float):
            raise _Problem(f"must be a number of seconds, got {_type(raw)}")
        if raw < minimum or raw != raw:  # NaN compares unequal to itself
            raise _Problem(f"must be at least {minimum}, got {raw}")
        return float(raw)

    return read


def _bool(raw: object) -> bool:
    if not isinstance(raw, bool):
        raise _Problem(f"must be true or false, got {_type(raw)}")
    return raw


def _run_root(raw: object) -> str:
    text = _string(raw)
    if not (text.startswith("/") or text == "~" or text.startswith("~/")):
        raise _Problem(f"{text!r} must be absolute ('/...') or under the home dir ('~/...')")
    if "\0" in text or "\n" in text:
        raise _Problem("must not hold NUL or newline characters")
    return text


def _python(raw: object) -> tuple[str, ...]:
    if isinstance(raw, str):
        return (_string(raw),)
    return _strings(raw)


def _rate(raw: object) -> Rate:
    try:
        return parse_rate(_string(raw))
    except ValueError as exc:
        raise _Problem(str(exc)) from None


def _directives(raw: object) -> Directives:
    if not isinstance(raw, dict):
        raise _Problem(f"must be a table, got {_type(raw)}")
    return read_directives(raw)


def _type(raw: object) -> str:
    return {dict: "a table", list: "a list", str: "a string", bool: "a boolean"}.get(
        type(raw), type(raw).__name__
    )


_READERS: dict[str, Callable[[object], Any]] = {
    "hosts": _hosts,
    "selection": _choice(Selection),
    "transport": _choice(TransportKind),
    "runner": lambda raw: _string(raw, NAME_RE, "runner name"),
    "install_target": lambda raw: _string(raw, NAME_RE, "install target name"),
    "ssh_command": _strings,
    "rsync_command": _strings,
    "run_root": _run_root,
    "max_batch": _int(1),
    "max_poll_batch": _int(1),
    "cluster": lambda raw: _string(raw, NAME_RE, "cluster name"),
    "directives": _directives,
    "python": _python,
    "command_timeout": _seconds(0.1),
    "bad_host_ttl": _seconds(0.0),
    "runner_prefix": lambda raw: _strings(raw, allow_empty=True),
    "multiplex": _bool,
    "control_persist": _int(1),  # ssh reads ControlPersist=0 as "forever": not allowed
    "submit_retry_budget": _int(0),
    "kill_grace": _seconds(0.0),
    "kill_timeout": _seconds(1.0),
    "runner_queries": _rate,
    "ssh_connections": _rate,
    "submit_rate": _rate,
    "endpoint": lambda raw: _string(raw, NAME_RE, "endpoint name"),
    "poll_submitted": _seconds(0.05),
    "poll_running": _seconds(0.05),
    "poll_near_limit": _seconds(0.05),
}
