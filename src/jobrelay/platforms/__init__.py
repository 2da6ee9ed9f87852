"""platforms layer: TOML config into typed Platform objects; host selection."""

from .config import find_config, load_config, load_platforms
from .errors import ConfigError
from .model import Platform, Selection, TransportKind, embedded_default

__all__ = [
    "ConfigError",
    "Platform",
    "Selection",
    "TransportKind",
    "embedded_default",
    "find_config",
    "load_config",
    "load_platforms",
]
